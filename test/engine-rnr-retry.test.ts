import t from 'tap'
import { connectQps, sent, startEnginePair, until } from './helpers/engine-pair.ts'
import { Op } from '../src/engine/opcodes.ts'
import { QpState, SendFlags, WcStatus, WrOpcode } from '../src/verbs/constants.ts'

// SEND with no receive posted: the responder answers an RNR NAK (AETH
// 0x20 | its min_rnr_timer), the requester waits that long and sends again;
// it gives up with RNR_RETRY_EXC_ERR after rnr_retry retries, and succeeds
// once a receive shows up in time. (Moved from the multi-process
// qp-rnr-retry test: same assertions, plus the NAKs on the wire.) The RNR
// wait alone drives these retries: no ACK timer (timeout 0), whose race with
// an RNR NAK once hung the QP (the test at the end).
const S = SendFlags.SIGNALED
const RNR_NAK = 0x20 // AETH bits 6:5 = 01, the timer in bits 4:0
const isSend = (opcode: number) => opcode >= Op.SEND_FIRST && opcode <= Op.SEND_ONLY_WITH_IMMEDIATE

t.test('engine - rnr retry', async (t) => {
  await t.test('rnr retry exhausts with RNR_RETRY_EXC_ERR', async (t) => {
    const pair = await startEnginePair(t, { capture: true })
    // min_rnr_timer 1 = 0.01 ms on the responder; rnr_retry 3 on the requester.
    const { a, b } = connectQps(pair, { rnrRetry: 3, minRnrTimerB: 1, timeout: 0 })
    const before = pair.a.device.counters.rnrRetries
    a.qp.postSend({ wrId: 1, opcode: WrOpcode.SEND, sgList: [{ addr: a.mr.iova, length: 16, lkey: a.mr.stag }], sendFlags: S })
    const wc = await a.cq.next()
    t.equal(wc.status, WcStatus.RNR_RETRY_EXC_ERR)
    t.equal(pair.a.device.counters.rnrRetries - before, 4, 'one RNR NAK per try: the first send and 3 retries')
    t.equal(a.qp.state, QpState.ERR)
    t.equal(sent(pair.a).filter((p) => isSend(p.opcode)).length, 4, 'the SEND went 4 times')
    const naks = sent(pair.b).filter((p) => p.opcode === Op.ACKNOWLEDGE)
    t.same(naks.map((p) => p.aeth!.syndrome), Array(4).fill(RNR_NAK | 1), 'each answered by an RNR NAK naming the responder\'s timer')
    t.equal(pair.b.device.counters.rnrNaksSent, 4)
    t.equal(b.qp.state, QpState.RTS, 'an RNR NAK is no error for the responder')
    a.qp.postSend({ wrId: 2, opcode: WrOpcode.SEND, sgList: [], sendFlags: S })
    t.same(await a.cq.next().then((w) => [w.wrId, w.status]), [2, WcStatus.WR_FLUSH_ERR], 'later WRs flush')
  })

  await t.test('a receive posted during the retry window lets the SEND complete', async (t) => {
    const pair = await startEnginePair(t, { capture: true })
    // Responder RNR timer 14 = 1.28 ms; infinite retries (7).
    const { a, b } = connectQps(pair, { rnrRetry: 7, minRnrTimerB: 14, timeout: 0 })
    a.buf.set([1, 2, 3, 4, 5], 0)
    const before = pair.a.device.counters.rnrRetries
    a.qp.postSend({ wrId: 2, opcode: WrOpcode.SEND, sgList: [{ addr: a.mr.iova, length: 5, lkey: a.mr.stag }], sendFlags: S })
    // Let it bounce off the empty receive queue a few times first.
    await until('two RNR NAKs', () => pair.a.device.counters.rnrRetries - before >= 2)
    t.ok(pair.a.device.counters.rnrRetries - before >= 2, 'RNR NAKs were received')
    b.qp.postRecv({ wrId: 3, sgList: [{ addr: b.mr.iova, length: 64, lkey: b.mr.stag }] })
    const wc = await a.cq.next()
    t.equal(wc.status, WcStatus.SUCCESS)
    const rwc = await b.cq.next()
    t.equal(rwc.wrId, 3)
    t.equal(rwc.byteLen, 5)
    t.same([...b.buf.subarray(0, 5)], [1, 2, 3, 4, 5])
    const naks = sent(pair.b).filter((p) => p.opcode === Op.ACKNOWLEDGE && p.aeth!.syndrome >> 5 === 1)
    t.ok(naks.length >= 2 && naks.every((p) => p.aeth!.syndrome === (RNR_NAK | 14)), `${naks.length} RNR NAKs, each with timer 14`)
    t.equal(sent(pair.a).filter((p) => isSend(p.opcode)).length, naks.length + 1, 'one SEND per NAK, and the one that got through')
  })

  await t.test('the requester waits the RNR timer the NAK names before retrying', async (t) => {
    const sends: number[] = []
    let nakAt = 0
    let b: ReturnType<typeof connectQps>['b'] | undefined
    const pair = await startEnginePair(t, {
      onPacket: (host, dir) => {
        if (host === 'a' && dir === 'out') sends.push(performance.now())
        if (host === 'a' && dir === 'in' && !nakAt) {
          // The RNR NAK arrives: a receive is there before any retry can be.
          nakAt = performance.now()
          b!.qp.postRecv({ wrId: 2, sgList: [] })
        }
      },
    })
    // Timer 0 is the longest: 655.36 ms, here scaled by 0.1 to 65.5 ms.
    const qps = connectQps(pair, { rnrRetry: 7, minRnrTimerB: 0, timeout: 0 })
    b = qps.b
    qps.a.qp.postSend({ wrId: 1, opcode: WrOpcode.SEND, sgList: [], sendFlags: S })
    t.equal((await qps.a.cq.next()).status, WcStatus.SUCCESS)
    t.equal(pair.a.device.counters.rnrRetries, 1, 'one RNR NAK, then through')
    t.equal(sends.length, 2, 'the SEND went twice')
    const waited = sends[1]! - nakAt
    // Not at once (about 1 ms without the wait); some slack for the timer's clock.
    t.ok(waited >= 50, `the retry came after the RNR timer (${waited.toFixed(1)} ms after the NAK)`)
  })
})

// A former engine bug: when the ACK timer fires while an
// RNR NAK is on its way (a busy event loop, or an RNR NAK slower than the
// timeout), the timeout rewinds the requester to the head WQE, the RNR NAK
// then pauses it, and when the RNR timer ends, rewindTo() finds no sent WQE
// to rewind to and kicked nobody: the WQE was never sent again, no timer was
// left, and the WR never completed (no error either). The RNR timer now
// restarts the requester whatever the rewind found.
t.test('engine - an ACK timeout racing an RNR NAK does not stall the QP', async (t) => {
  let stalled = false
  const pair = await startEnginePair(t, {
    // b is busy for 10 ms as it sends its first RNR NAK, past a's 6.7 ms ACK
    // timeout: in the next loop turn a's timer fires just before a reads the NAK.
    onPacket: (host, dir) => {
      if (host !== 'b' || dir !== 'out' || stalled) return
      stalled = true
      const busyUntil = performance.now() + 10
      while (performance.now() < busyUntil) {
        // busy
      }
    },
  })
  const { a } = connectQps(pair, { rnrRetry: 3, minRnrTimerB: 1, timeout: 14 })
  a.qp.postSend({ wrId: 1, opcode: WrOpcode.SEND, sgList: [], sendFlags: S })
  const wc = await a.cq.next(2000)
  t.equal(wc.status, WcStatus.RNR_RETRY_EXC_ERR, 'the SEND ends (no receive is ever posted)')
  t.equal(pair.a.device.counters.timeoutRetries, 1, 'after the timeout that raced the NAK')
})
