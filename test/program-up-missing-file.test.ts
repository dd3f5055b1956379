import { existsSync } from 'node:fs'
import t from 'tap'
import { pidsMatching } from './cluster-helpers.ts'
import { programDir, runUp, writeProgram } from './helpers/programs.ts'

// A node naming a program file that does not exist is a configuration error:
// `up` exits 2 with the node, the config path and the resolved file, before
// it starts any process or writes a run directory.
t.test('program - a missing program file: up exits 2 before anything starts', async (t) => {
  const dir = programDir(t)
  writeProgram(dir, 'there.mjs', 'export default async function () {}\n')
  const r = await runUp(t, dir, {
    nodes: [
      { id: 'client0', role: 'client', program: 'there.mjs' },
      { id: 'client1', role: 'client', program: 'not-there.mjs' },
    ],
  })
  t.equal(r.code, 2, 'up exits 2 (bad input)')
  t.match(r.stderr, /nodes\[1\]\.program: program file not found: \S*not-there\.mjs \(node client1\)/, `names the config path, the file and the node: ${r.stderr.trim()}`)
  t.notMatch(r.stderr, /there\.mjs \(node client0\)/, 'the program that exists is not reported')
  t.same(r.events, [], 'no cluster came up')
  t.notOk(existsSync(r.runDir), 'no run directory was written')
  t.same(pidsMatching(r.runDir), [], 'no process was started')
})
