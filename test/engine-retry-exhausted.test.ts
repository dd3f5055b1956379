import t, { type Test } from 'tap'
import { connectQps, DEFAULT_TIME_SCALE, faults, startEnginePair, type Host } from './helpers/engine-pair.ts'
import { QpState, SendFlags, WcStatus, WrOpcode } from '../src/verbs/constants.ts'

// Every packet is lost: the requester retransmits retry_cnt times on its ACK
// timer (4.096 us * 2^timeout, scaled), then fails the oldest WQE with
// RETRY_EXC_ERR, moves the QP to ERR and flushes the rest with WR_FLUSH_ERR,
// unsignaled WRs included, in order. (Moved from the multi-process
// qp-retry-exhausted test, where the peer process was stopped with SIGSTOP:
// here the fabric loses its packets, in either direction.)
const TIMEOUT = 14
const periodMs = (4.096 * 2 ** TIMEOUT * DEFAULT_TIME_SCALE) / 1000

/** `perTry`: packets the losing side sends on each try. */
async function exhaust(t: Test, retryCnt: number, lose: (pair: { a: Host; b: Host }) => Host, perTry: number): Promise<void> {
  const pair = await startEnginePair(t)
  const { a, b } = connectQps(pair, { timeout: TIMEOUT, retryCnt })
  const losing = lose(pair)
  const inj = faults(losing, { drop: 1, seed: 1 })!
  const wr = (wrId: number) => ({ wrId, opcode: WrOpcode.RDMA_WRITE, sgList: [{ addr: a.mr.iova, length: 100, lkey: a.mr.stag }], remoteAddr: b.mr.iova, rkey: b.mr.stag })
  const started = performance.now()
  a.qp.postSend([{ ...wr(1), sendFlags: SendFlags.SIGNALED }, wr(2), wr(3)])
  const wcs = await a.cq.take(3)
  const elapsed = performance.now() - started
  t.same(wcs.map((w) => w.wrId), [1, 2, 3], 'completions in order, unsignaled ones included')
  t.equal(wcs[0]!.status, WcStatus.RETRY_EXC_ERR)
  t.equal(wcs[1]!.status, WcStatus.WR_FLUSH_ERR)
  t.equal(wcs[2]!.status, WcStatus.WR_FLUSH_ERR)
  t.equal(pair.a.device.counters.timeoutRetries, retryCnt, 'retry_cnt retransmissions')
  t.equal(a.qp.state, QpState.ERR)
  t.equal(inj.counters.seen, perTry * (retryCnt + 1), `the fabric lost ${perTry} packet(s) a try, ${retryCnt + 1} tries`)
  t.ok(elapsed >= (retryCnt + 1) * (periodMs - 1), `each try waited out the ACK timeout (${elapsed.toFixed(1)} ms for ${retryCnt + 1} periods of ${periodMs.toFixed(1)} ms)`)
  t.equal(a.cq.count, 0, 'one completion per WR')
  t.equal(pair.b.device.counters.pktsReceived, losing === pair.a ? 0 : 3 * (retryCnt + 1), 'requests that reached the responder')
}

t.test('engine - retry exhausted', async (t) => {
  // Each try sends the whole window again (go-back-N from the oldest): 3 requests.
  await t.test('requests lost: RETRY_EXC_ERR after retry_cnt (3) retries, the rest flushed', (t) => exhaust(t, 3, (p) => p.a, 3))
  // The responder takes each try's 3 (duplicate) requests in one train and answers one coalesced ACK.
  await t.test('acknowledgements lost: the same, though the responder got every request', (t) => exhaust(t, 3, (p) => p.b, 1))
  await t.test('retry_cnt 0: the first timeout fails the WQE', (t) => exhaust(t, 0, (p) => p.a, 3))
})
