import t from 'tap'
import { decodeWordValue } from '../src/check/history.ts'
import { codec } from '../fabric/frame.ts'
import { RemoteVerbs } from '../src/verbs/remote-verbs.ts'
import { swapValue, type WorkloadSpec } from '../src/verbs/workload.ts'
import { startRdmaCluster, ALL_ACCESS } from './helpers/rdma-cluster.ts'

// The checked workload through `verbs.workload` on real node processes: a
// client node runs it against a server node's MR and its history comes back
// over the control plane (msgpackr) with the bigints intact. Bad checked-mode
// fields are refused with ERR_BAD_MESSAGE naming the field.

// WORKLOAD_OPS=100000 runs the acceptance size (its history is ~18 MB on the control plane).
const N = Number(process.env.WORKLOAD_OPS ?? 4000)

t.test('verbs.workload checked mode on real nodes', async (t) => {
  const rc = await startRdmaCluster(t, { clients: 1 })
  const pd = await rc.server.allocPd()
  const mr = await rc.server.regMr(pd, 16384, ALL_ACCESS)
  const inbox = await rc.server.regMr(pd, 64, ALL_ACCESS)
  await rc.server.listen({ port: 4000, pd })
  const client = new RemoteVerbs(rc.cluster.control, 'client0')
  const { qpn } = await client.connect('server0', 4000)
  const t0EpochMs = performance.timeOrigin + performance.now()
  const spec: WorkloadSpec = {
    opcode: 0, count: N, window: 16, size: 32, readSize: 16, remoteAddr: mr.iova, rkey: mr.stag, span: 2048,
    mix: [{ op: 'write', weight: 3 }, { op: 'read', weight: 3 }, { op: 'fetchAdd', weight: 2 }, { op: 'cmpSwap', weight: 2 }, { op: 'send', weight: 1 }],
    sendSize: 16, recv: { stag: inbox.stag, offset: 0, length: 64 },
    seed: 42, atomicOffset: 8192, atomicSpan: 2, casOffset: 8192 + 64, casSpan: 2, addend: 5n, atomicInitial: 0n, flushEvery: 1000, sampleMs: 20,
    history: { stream: 'traffic1', mr: 'm', server: 'server0', client: 'client0', firstOpId: 1, t0EpochMs, mrIova: mr.iova },
  }
  const started = performance.now()
  const r = await client.workload(qpn, 0, spec)
  const elapsed = performance.now() - started
  const h = r.history!
  t.comment(`${r.posted} WRs in ${r.elapsedMs.toFixed(0)} ms on the node (${Math.round(r.posted / r.elapsedMs * 1000)} ops/s), ${elapsed.toFixed(0)} ms with the reply; history ${codec.pack(h).length} bytes packed`)
  t.equal(r.errors, 0)
  t.equal(r.posted, N + Math.floor(N / 1000))
  t.equal(h.length, N + Math.floor(N / 1000))
  t.equal(r.flushes, Math.floor(N / 1000))
  t.equal(r.drained, true)
  t.ok(h.every((op, i) => op.id === i + 1 && op.status === 'SUCCESS' && op.completions === 1 && op.qpn === qpn), 'every record: id, status, one completion')
  t.ok(h.every((op) => op.postedUs >= 0 && op.completedUs! >= op.postedUs && op.completedUs! < elapsed * 1000 + 60_000_000), 'times relative to the run start')

  const reads = h.filter((op) => op.op === 'read')
  t.ok(reads.length > 0 && reads.every((op) => op.words!.length === 2 && op.words!.every((w) => typeof w === 'bigint')), 'READ words come back bigints')
  t.ok(reads.some((op) => op.words!.some((w) => decodeWordValue(w) !== undefined)), 'and some hold WRITE values (64-bit, top bit set)')
  const adds = h.filter((op) => op.op === 'fetchAdd')
  t.ok(adds.every((op) => op.value === 5n && typeof op.result === 'bigint'), 'FETCH_ADD addend and result are bigints')
  const cas = h.filter((op) => op.op === 'cmpSwap')
  t.ok(cas.every((op) => op.value === swapValue(op.id, op.offset / 8) && typeof op.compare === 'bigint' && typeof op.result === 'bigint'), 'CMP_SWAP swap, compare, result are bigints')

  const mem = await rc.server.read(mr.stag, 0, 16384)
  const dv = new DataView(mem.buffer, mem.byteOffset, mem.byteLength)
  for (const off of [8192, 8200]) {
    const n = adds.filter((op) => op.offset === off).length
    t.equal(dv.getBigUint64(off, true), 5n * BigInt(n), `counter at ${off} == sum of its ${n} addends`)
  }
  const last = new Map<number, number>()
  for (const op of h) if (op.op === 'write') for (let w = op.offset / 8; w < (op.offset + op.length) / 8; w++) last.set(w, op.id)
  let wrong = 0
  for (let w = 0; w < 2048 / 8; w++) {
    const v = dv.getBigUint64(w * 8, true)
    const d = decodeWordValue(v)
    if (last.has(w) ? d?.opId !== last.get(w) || d?.word !== w : v !== 0n) wrong++
  }
  t.equal(wrong, 0, 'the server memory holds the last WRITE of every word')
  const sends = h.filter((op) => op.op === 'send')
  t.ok(sends.length > 0 && r.sends === sends.length && r.sendsReceived === sends.length, `${sends.length} SENDs, each received on the server`)
  t.ok(r.samples!.length >= 2 && r.samples!.every((s) => typeof s.retransmissions === 'number'), `${r.samples!.length} samples`)
})

t.test('verbs.workload refuses bad checked-mode fields naming them', async (t) => {
  const rc = await startRdmaCluster(t, { clients: 1 })
  const base = {
    opcode: 0, count: 10, window: 4, size: 8, remoteAddr: 0, rkey: 1,
    history: { stream: 's', mr: 'm', server: 'server0', client: 'client0', firstOpId: 1, t0EpochMs: 0, mrIova: 0 },
  }
  const cases: Array<[string, Record<string, unknown>]> = [
    ['spec.mix[0].op', { mix: [{ op: 'append', weight: 1 }] }],
    ['spec.mix[0].weight', { mix: [{ op: 'write', weight: -1 }] }],
    ['spec.history.firstOpId', { history: { ...base.history, firstOpId: 0 } }],
    ['spec.history.stream', { history: { ...base.history, stream: '' } }],
    ['spec.history.mrIova', { history: { ...base.history, mrIova: undefined } }],
    ['spec.addend', { addend: 1 }],
    ['spec.atomicInitial', { atomicInitial: 'zero' }],
    ['spec.flushPlt', { flushPlt: 4 }],
    ['spec.atomicSpan', { atomicSpan: 0 }],
    ['spec.seed', { seed: 1.5 }],
    ['spec.sampleMs', { sampleMs: -1 }],
  ]
  for (const [field, o] of cases) {
    await t.rejects(rc.cluster.control.request('client0', 'verbs.workload', { qpn: 1, localBytes: 0, spec: { ...base, ...o } as never }), { code: 'ERR_BAD_MESSAGE', details: { field } }, field)
  }
})
