import t from 'tap'
import { pidsMatching } from './cluster-helpers.ts'
import { runExample } from './helpers/examples.ts'

// nodes/examples/rc-pingpong.mjs through its own configuration: two client
// nodes run the same program (client1 names client0 as its server), set
// their QPs up by hand and bounce 1000 messages of 4096 bytes, each checked
// byte for byte on arrival.
t.test('example - rc-pingpong: SEND/RECV ping-pong with a data check each way, rc_pingpong summary', async (t) => {
  const r = await runExample(t, 'rc-pingpong.config.json')
  t.equal(r.code, 0, `up exits 0 (${r.ms} ms) ${r.stderr}`)
  t.same(Object.keys(r.results).sort(), ['client0', 'client1'], 'both sides reported')
  for (const [id, side, peer] of [['client0', 'server', 'client1'], ['client1', 'client', 'client0']] as const) {
    t.match(r.results[id], { example: 'rc-pingpong', side, peer, iters: 1000, size: 4096, bytes: 2 * 1000 * 4096 }, `${id} is the ${side} side`)
    t.equal(r.results[id]!.checked, 1000, `${id} checked all 1000 messages it received`)
    t.ok((r.results[id]!.usecPerIter as number) > 0, `${id}: ${r.results[id]!.usecPerIter} usec/iter`)
    t.match(r.out[id], /^8192000 bytes in \d+\.\d\d seconds = \d+\.\d\d Mbit\/sec$/m, `${id} prints the bandwidth line`)
    t.match(r.out[id], /^1000 iters in \d+\.\d\d seconds = \d+\.\d\d usec\/iter$/m, `${id} prints the latency line`)
  }
  t.same(r.leftBehind, [], 'no node process remains (by PID)')
  t.same(pidsMatching(r.runDir), [], 'no process of the run remains')
})
