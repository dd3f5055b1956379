import t from 'tap'
import { runCli } from './cluster-helpers.ts'

t.test('cli - --help on every command', async (t) => {
  const top = await runCli(['--help'])
  t.equal(top.code, 0, 'rdma-emu --help exits 0')
  const commands = ['validate', 'up', 'node', 'tour', 'run', 'stats', 'scale']
  for (const c of commands) t.match(top.stdout, new RegExp(`^\\s+${c}\\b`, 'm'), `lists ${c}`)
  for (const c of commands) {
    const r = await runCli([c, '--help'])
    t.equal(r.code, 0, `${c} --help exits 0`)
    t.match(r.stdout, new RegExp(`^Usage: rdma-emu ${c} `, 'm'), `${c} --help prints its usage`)
  }
})
