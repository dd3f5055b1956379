import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { configProblems, parseConfig } from '../src/config/load-config.ts'
import { tempDir } from './cluster-helpers.ts'

// A node's `program` resolves against the configuration's directory and must
// be a file; `args` only come with a program. Each problem names the path and
// the node.
t.test('config - program: resolved against the config directory, must exist; args need a program', async (t) => {
  const dir = tempDir(t)
  writeFileSync(join(dir, 'p.mjs'), 'export default () => {}\n')
  const c = parseConfig({ nodes: [{ id: 'c0', role: 'client', program: 'p.mjs', args: ['1'] }, { id: 'c1', role: 'client' }] }, 'cfg', { baseDir: dir })
  t.same([c.nodes[0]!.program, c.nodes[0]!.args], [join(dir, 'p.mjs'), ['1']], 'absolute path, arguments kept')
  t.notOk('program' in c.nodes[1]! || 'args' in c.nodes[1]!, 'a node without a program has neither')
  const lines = configProblems({
    nodes: [
      { id: 'c0', role: 'client', program: 'missing.mjs' },
      { id: 'c1', role: 'client', args: ['x'] },
      { id: 'c2', role: 'client', program: '.' },
      { id: 'c3', role: 'client', program: 'p.mjs', args: [1] },
    ],
  }, 'cfg', { baseDir: dir })
  t.same(lines, [
    'nodes[3].args[0]: expected string, got 1',
    `nodes[0].program: program file not found: ${join(dir, 'missing.mjs')} (node c0)`,
    'nodes[1].args: only allowed with "program"',
    `nodes[2].program: expected a JavaScript file, got a directory: ${dir} (node c2)`,
  ])
})
