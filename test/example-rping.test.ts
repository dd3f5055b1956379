import t from 'tap'
import { pidsMatching } from './cluster-helpers.ts'
import { runExample } from './helpers/examples.ts'

// nodes/examples/rping-server.mjs and rping-client.mjs through their own
// configuration: rdma_cm listen/connect, buffer advertisements over SEND, the
// server READs each ping and WRITEs it back, the client compares (-V), then
// disconnects, which ends the server's loop.
t.test('example - rping: rdma_cm client/server, READ and WRITE rounds checked, disconnect', async (t) => {
  const r = await runExample(t, 'rping.config.json')
  t.equal(r.code, 0, `up exits 0 (${r.ms} ms) ${r.stderr}`)
  t.match(r.results.client1, { example: 'rping', side: 'client', peer: 'client0', count: 10, size: 64, verified: 10 }, 'the client verified all 10 pings')
  t.match(r.results.client0, { example: 'rping', side: 'server', peer: 'client1', rounds: 10, bytesRead: 640, bytesWritten: 640 }, 'the server READ and WROTE 10 rounds, then saw the disconnect')
  const pings = r.out.client1!.split('\n').filter((l) => l.startsWith('ping data: '))
  t.equal(pings.length, 10, 'the client printed each ping (-v)')
  t.equal(pings[0], 'ping data: rdma-ping-0: ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqr', "the first ping is rping's")
  t.match(r.out.client0, /client1 disconnected after 10 rounds/, 'the server saw the disconnect')
  t.same(r.leftBehind, [], 'no node process remains (by PID)')
  t.same(pidsMatching(r.runDir), [], 'no process of the run remains')
})
