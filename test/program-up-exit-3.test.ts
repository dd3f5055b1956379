import t from 'tap'
import { pidsMatching } from './cluster-helpers.ts'
import { programDir, runUp, writeProgram } from './helpers/programs.ts'

// A client program that calls process.exit(3) ends its node process at once;
// the launcher sees the node exit, names the node and the program, stops the
// other nodes (client1's program would run for a minute), and `up` exits 1.
t.test('program - a client program exiting 3 ends the cluster: up exits 1 naming the node', async (t) => {
  const dir = programDir(t)
  writeProgram(dir, 'exit3.mjs', `export default async function (host) {
  await new Promise((r) => setTimeout(r, 100))
  process.exit(3)
}
`)
  writeProgram(dir, 'long.mjs', `export default async function (host) {
  await new Promise((r) => setTimeout(r, 60000))
}
`)
  const r = await runUp(t, dir, {
    logLevel: 'warn',
    nodes: [
      { id: 'server0', role: 'server', server: { workers: 0 } },
      { id: 'client0', role: 'client', program: 'exit3.mjs' },
      { id: 'client1', role: 'client', program: 'long.mjs' },
    ],
  })
  t.equal(r.code, 1, 'up exits 1')
  t.match(r.stderr, /node client0: program \S*exit3\.mjs exited with code 3/, `the message names the node, the program and the status: ${r.stderr.trim()}`)
  t.notMatch(r.stderr, /client1/, 'and not the node that was still running')
  t.match(r.events.find((e) => e.event === 'stopped'), { code: 1 })
  t.equal(r.pids.length, 3, 'three node processes were started')
  t.same(r.leftBehind, [], 'no node process remains (by PID)')
  t.same(pidsMatching(r.runDir), [], 'no process of the run remains')
})
