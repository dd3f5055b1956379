import t from 'tap'
import { runCli, tempDir } from './cluster-helpers.ts'

t.test('config - missing file', async (t) => {
  const dir = tempDir(t)
  const r = await runCli(['validate'], { cwd: dir })
  t.equal(r.code, 2, 'exit code 2')
  t.match(r.stderr, /^cluster\.config\.json: file not found$/m, 'names the default file')
  const other = await runCli(['validate', '-c', 'nope/other.json'], { cwd: dir })
  t.equal(other.code, 2, 'exit code 2 for -c FILE too')
  t.match(other.stderr, /^nope\/other\.json: file not found$/m, 'names the given file')
})
