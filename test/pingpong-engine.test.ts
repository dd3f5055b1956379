import t from 'tap'
import { sent, startEnginePair } from './helpers/engine-pair.ts'
import { qpPair } from './helpers/verbs-pair.ts'
import { Op } from '../src/engine/opcodes.ts'
import { ErrorCodes } from '../src/errors.ts'
import { runPingPong, type PingPongSpec } from '../src/verbs/pingpong.ts'

// perftest's latency ping-pong (run_iter_lat_write / run_iter_lat_send) on an
// in-process engine pair: a is the client, b the server answering from its
// buffer. The server's answers are on the wire (b sends one WRITE or SEND per
// round trip), and each client sample spans its post to the answer it saw.
const N = 300
const SIZE = 64

for (const verb of ['write', 'send'] as const) {
  t.test(`pingpong - ${verb}: the server answers every message, the client times each round trip`, async (t) => {
    const pair = await startEnginePair(t, { capture: true })
    const p = qpPair(pair)
    const common = { verb, count: N, size: SIZE }
    const server: PingPongSpec = { ...common, role: 'server', localStag: p.b.mr.stag, sendOffset: 0, recvOffset: 0, remoteAddr: p.a.mr.iova + SIZE, rkey: p.a.mr.stag }
    const client: PingPongSpec = { ...common, role: 'client', localStag: p.a.mr.stag, sendOffset: 0, recvOffset: SIZE, remoteAddr: p.b.mr.iova, rkey: p.b.mr.stag }
    const serving = runPingPong(p.b.qp, p.b.mr, server)
    const t0 = performance.now()
    const c = await runPingPong(p.a.qp, p.a.mr, client)
    const wallUs = (performance.now() - t0) * 1000
    const s = await serving
    t.match(c, { completed: N, posted: N, received: N, errors: 0, stopped: false, timedOut: false })
    t.match(s, { completed: N, posted: N, received: N, errors: 0, stopped: false, timedOut: false })
    t.equal(c.latenciesUs.length, N, 'one round-trip sample per iteration')
    t.same(s.latenciesUs, [], 'the server times nothing')
    const op = verb === 'write' ? Op.RDMA_WRITE_ONLY : Op.SEND_ONLY
    const fromServer = new Set(sent(pair.b).filter((k) => k.opcode === op).map((k) => k.psn))
    const fromClient = new Set(sent(pair.a).filter((k) => k.opcode === op).map((k) => k.psn))
    t.equal(fromServer.size, N, `the server sent ${N} answers (${verb === 'write' ? 'RDMA WRITE' : 'SEND'} ONLY PSNs)`)
    t.equal(fromClient.size, N, `the client sent ${N} messages`)
    // Samples are disjoint intervals of the client's run: post i .. answer i, and post i+1 comes after answer i.
    const sum = c.latenciesUs.reduce((a, b) => a + b, 0)
    t.ok(sum <= wallUs, `the round trips (${Math.round(sum)} µs in all) fit inside the client's run (${Math.round(wallUs)} µs)`)
    if (verb === 'write') {
      t.equal(p.b.buf[SIZE - 1], N & 0xff, "the server's poll byte holds the last count")
      t.equal(p.a.buf[2 * SIZE - 1], N & 0xff, "the client's poll byte holds the server's last answer")
    }
  })
}

t.test('pingpong - a server waiting for a message stops on abort, reporting what it answered', async (t) => {
  const pair = await startEnginePair(t)
  const p = qpPair(pair)
  const ctl = new AbortController()
  const serving = runPingPong(p.b.qp, p.b.mr, { role: 'server', verb: 'write', count: 10, size: 8, localStag: p.b.mr.stag, sendOffset: 0, recvOffset: 0, remoteAddr: p.a.mr.iova + 8, rkey: p.a.mr.stag }, ctl.signal)
  const c = await runPingPong(p.a.qp, p.a.mr, { role: 'client', verb: 'write', count: 3, size: 8, localStag: p.a.mr.stag, sendOffset: 0, recvOffset: 8, remoteAddr: p.b.mr.iova, rkey: p.b.mr.stag })
  t.equal(c.completed, 3)
  ctl.abort('client done')
  const s = await serving
  t.match(s, { completed: 3, stopped: true, stopReason: 'client done', timedOut: false, errors: 0 })
})

t.test('pingpong - a client whose answer never comes gives up after answerTimeoutMs', async (t) => {
  const pair = await startEnginePair(t)
  const p = qpPair(pair)
  const c = await runPingPong(p.a.qp, p.a.mr, { role: 'client', verb: 'write', count: 5, size: 8, localStag: p.a.mr.stag, sendOffset: 0, recvOffset: 8, remoteAddr: p.b.mr.iova, rkey: p.b.mr.stag, answerTimeoutMs: 50 })
  t.match(c, { completed: 0, posted: 1, timedOut: true, errors: 0 })
})

t.test('pingpong - bad specs are refused with EINVAL', async (t) => {
  const pair = await startEnginePair(t)
  const p = qpPair(pair)
  const base: PingPongSpec = { role: 'client', verb: 'write', count: 1, size: 8, localStag: p.a.mr.stag, sendOffset: 0, recvOffset: 8, remoteAddr: 0, rkey: 1 }
  await t.rejects(runPingPong(p.a.qp, p.a.mr, { ...base, size: 0 }), { code: ErrorCodes.EINVAL })
  await t.rejects(runPingPong(p.a.qp, p.a.mr, { ...base, rkey: undefined }), { code: ErrorCodes.EINVAL })
  await t.rejects(runPingPong(p.a.qp, p.a.mr, { ...base, recvOffset: p.a.mr.length }), { code: ErrorCodes.EINVAL })
  await t.rejects(runPingPong(p.a.qp, p.a.mr, { ...base, count: -1 }), { code: ErrorCodes.EINVAL })
})
