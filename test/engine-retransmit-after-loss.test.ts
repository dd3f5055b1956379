import t from 'tap'
import { connectQps, faults, startEnginePair, until } from './helpers/engine-pair.ts'
import { SendFlags, WcStatus, WrOpcode } from '../src/verbs/constants.ts'

// A lone single-packet request on an idle QP whose response is lost is
// recovered by the retransmit timer (the timer must be armed for it), and
// the retried atomic is answered from the responder's saved result, not run
// again. (Moved from the multi-process qp-retransmit-after-loss test.)
const S = SendFlags.SIGNALED

t.test('engine - retransmit after a lost response on an idle QP', async (t) => {
  const pair = await startEnginePair(t)
  // timeout 10: 4.096 us * 2^10 * 0.1 = 0.4 ms, raised to the 1 ms floor.
  const { a, b } = connectQps(pair, { timeout: 10, retryCnt: 7 })
  const dv = new DataView(b.buf.buffer, b.buf.byteOffset)
  b.buf.set([1, 2, 3, 4, 5, 6, 7, 8], 0)
  const original = dv.getBigUint64(0, true)
  for (const [name, wr] of [
    ['READ', { opcode: WrOpcode.RDMA_READ }],
    ['FETCH_ADD', { opcode: WrOpcode.ATOMIC_FETCH_AND_ADD, compareAdd: 0n }],
  ] as const) {
    await t.test(name, async (t) => {
      // The responder loses everything it sends for a while.
      faults(pair.b, { drop: 1, seed: 1 })
      const before = pair.a.device.counters.timeoutRetries
      const dupBefore = pair.b.device.counters.duplicateRequests
      a.buf.fill(0, 0, 8)
      a.qp.postSend({ wrId: 1, ...wr, sgList: [{ addr: a.mr.iova, length: 8, lkey: a.mr.stag }], remoteAddr: b.mr.iova, rkey: b.mr.stag, sendFlags: S })
      await until('two retransmissions', () => pair.a.device.counters.timeoutRetries - before >= 2)
      faults(pair.b, null)
      const wc = await a.cq.next(5000)
      t.equal(wc.status, WcStatus.SUCCESS)
      t.ok(pair.a.device.counters.timeoutRetries - before >= 2, 'recovered by the retransmit timer')
      t.ok(pair.b.device.counters.duplicateRequests - dupBefore >= 2, 'the retries reached the responder as duplicates')
      t.same([...a.buf.subarray(0, 8)], [1, 2, 3, 4, 5, 6, 7, 8])
    })
  }

  await t.test('FETCH_ADD retried after lost ACKs adds once', async (t) => {
    faults(pair.b, { drop: 1, seed: 1 })
    const before = pair.a.device.counters.timeoutRetries
    a.qp.postSend({ wrId: 2, opcode: WrOpcode.ATOMIC_FETCH_AND_ADD, sgList: [{ addr: a.mr.iova, length: 8, lkey: a.mr.stag }], remoteAddr: b.mr.iova, rkey: b.mr.stag, compareAdd: 3n, sendFlags: S })
    await until('three retransmissions', () => pair.a.device.counters.timeoutRetries - before >= 3)
    faults(pair.b, null)
    t.equal((await a.cq.next(5000)).status, WcStatus.SUCCESS)
    t.equal(new DataView(a.buf.buffer, a.buf.byteOffset).getBigUint64(0, true), original, 'the original value came back')
    t.equal(dv.getBigUint64(0, true), original + 3n, 'added once, though sent four times or more')
  })
})

// A former engine bug: the retransmit timer a completed message leaves armed
// was not restarted when the next message went out on the idle QP; it ran
// from the previous message's last progress. After the
// event loop has been busy for longer than one ACK timeout between a
// completion and the next post (an application working on its completions,
// tap between subtests), the stale timer fires as soon as the loop comes
// round and retransmitted the new message at once, though nothing was lost.
// Now the period starts when the oldest unacknowledged packet is sent.
t.test('engine - a message posted after a busy spell gets a full ACK timeout', async (t) => {
  const pair = await startEnginePair(t)
  // timeout 17: 53.7 ms, long beside an in-process round trip even on a loaded machine.
  const { a, b } = connectQps(pair, { timeout: 17 })
  const write = (wrId: number) => a.qp.postSend({ wrId, opcode: WrOpcode.RDMA_WRITE, sgList: [{ addr: a.mr.iova, length: 8, lkey: a.mr.stag }], remoteAddr: b.mr.iova, rkey: b.mr.stag, sendFlags: S })
  write(1)
  t.equal((await a.cq.next()).status, WcStatus.SUCCESS)
  const busyUntil = performance.now() + 60
  while (performance.now() < busyUntil) {
    // The application is busy for 60 ms (longer than the timeout).
  }
  write(2)
  t.equal((await a.cq.next()).status, WcStatus.SUCCESS)
  t.equal(pair.a.device.counters.timeoutRetries, 0, 'nothing was lost, so nothing is retransmitted')
})
