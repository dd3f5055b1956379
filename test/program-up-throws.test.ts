import t from 'tap'
import { pidsMatching } from './cluster-helpers.ts'
import { programDir, runUp, writeProgram } from './helpers/programs.ts'

// A client program that throws ends the cluster at once: `up` exits 1 with
// one line naming the node, the program and the error (its message and where
// it was thrown), and every node process is stopped.
t.test('program - a client program that throws ends the cluster: up exits 1 naming the node and the error', async (t) => {
  const dir = programDir(t)
  writeProgram(dir, 'boom.mjs', `export default async function (host) {
  await new Promise((r) => setTimeout(r, 100))
  throw new RangeError('the answer is not ' + host.args[0])
}
`)
  writeProgram(dir, 'long.mjs', `export default async function (host) {
  await new Promise((r) => setTimeout(r, 60000))
}
`)
  const r = await runUp(t, dir, {
    logLevel: 'warn',
    nodes: [
      { id: 'client0', role: 'client', program: 'long.mjs' },
      { id: 'client1', role: 'client', program: 'boom.mjs', args: ['42'] },
    ],
  })
  t.equal(r.code, 1, 'up exits 1')
  t.match(r.stderr, /node client1: program \S*boom\.mjs threw RangeError: the answer is not 42 \(at .*boom\.mjs:3:\d+\)/, `names the node, the program, the error and where: ${r.stderr.trim()}`)
  t.match(r.events.find((e) => e.event === 'program'), { node: 'client1', code: 1, error: /RangeError: the answer is not 42/ }, 'the program end is reported')
  t.match(r.events.find((e) => e.event === 'stopped'), { code: 1 })
  t.same(r.leftBehind, [], 'no node process remains (by PID)')
  t.same(pidsMatching(r.runDir), [], 'no process of the run remains')
})
