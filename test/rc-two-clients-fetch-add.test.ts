import t from 'tap'
import { startRdmaCluster, ALL_ACCESS } from './helpers/rdma-cluster.ts'
import { RemoteVerbs } from '../src/verbs/remote-verbs.ts'
import { WrOpcode } from '../src/verbs/constants.ts'

// Two client node processes each run 10,000 FETCH_ADDs on the same 8-byte
// word of a server node whose data path runs on 2 worker threads (each QP
// bound to its own worker, so the adds race across threads): the final value
// is exact, and every original value 0..19,999 was returned exactly once.
const N = 10_000

t.test('rc - two client processes fetch-add one server word', async (t) => {
  const rc = await startRdmaCluster(t, { clients: 2 })
  // Every batch to the workers (none run in place on the main thread), on 2 threads.
  await rc.cluster.control.request('server0', 'rdma.dataPath', { mode: 'workers', workers: 2, inlineBatchBytes: 0 })
  const pd = await rc.server.allocPd()
  const word = await rc.server.regMr(pd, 8, ALL_ACCESS)
  await rc.server.listen({ port: 4000, pd })
  const clients = ['client0', 'client1'].map((id) => new RemoteVerbs(rc.cluster.control, id))
  const conns = await Promise.all(clients.map((c) => c.connect('server0', 4000)))
  const results = await Promise.all(
    clients.map((c, k) => c.workload(conns[k]!.qpn, 64 * 8, { opcode: WrOpcode.ATOMIC_FETCH_AND_ADD, count: N, window: 64, size: 8, remoteAddr: word.iova, rkey: word.stag, compareAdd: 1n })),
  )
  for (const r of results) {
    t.equal(r.completed, N)
    t.equal(r.errors, 0)
  }
  const all = results.flatMap((r) => r.atomicResults!.map(BigInt)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
  t.equal(all.length, 2 * N)
  t.ok(all.every((v, i) => v === BigInt(i)), 'each original value seen exactly once')
  const dp = await rc.cluster.control.request('server0', 'rdma.dataPathStats')
  t.equal(dp.mode, 'workers')
  t.ok(dp.workers >= 2, `server data path on ${dp.workers} worker threads`)
  t.ok((dp.ops ?? 0) >= 2 * N, `the adds ran in the workers (${dp.ops} ops in ${dp.tasks} tasks)`)
  const b = await rc.server.read(word.stag, 0, 8)
  t.equal(new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true), BigInt(2 * N), 'final value is exact')
})
