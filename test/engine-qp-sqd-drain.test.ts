import t, { type Test } from 'tap'
import type { DeviceModel } from '../src/params.ts'
import { ErrorCodes } from '../src/errors.ts'
import { AsyncEventType } from '../src/verbs/async-events.ts'
import { QpState, SendFlags, WcStatus, WrOpcode } from '../src/verbs/constants.ts'
import { connectQps, faults, sent, startEnginePair, until } from './helpers/engine-pair.ts'

// RTS -> SQD drains the send queue (rxe_qp_sqd, rxe_req.c's req_next_wqe and
// req_check_sq_drain_done): WQEs already started complete, new ones wait;
// once the started ones are done the drain is over and IB_EVENT_SQ_DRAINED is
// raised. While draining, only ERR is accepted (__qp_chk_state). The `ibta`
// model raises SQ_DRAINED only when en_sqd_async_notify asked for it (as
// hardware, mlx5's sqd_event); the `rxe` model always (rxe raises it
// unconditionally).

const S = SendFlags.SIGNALED

async function drain(t: Test, model: DeviceModel, notify: boolean | undefined, wantEvent: boolean): Promise<void> {
  const pair = await startEnginePair(t, { deviceModel: model, capture: true })
  const { a, b } = connectQps(pair, { timeout: 12 })
  a.buf.fill(0xab, 0, 4096)
  const write = (i: number): void =>
    a.qp.postSend({ wrId: i, opcode: WrOpcode.RDMA_WRITE, sgList: [{ addr: a.mr.iova + i * 1024, length: 1024, lkey: a.mr.stag }], remoteAddr: b.mr.iova + i * 1024, rkey: b.mr.stag, sendFlags: S })
  // b's ACKs are lost for now: the first three WRITEs stay outstanding.
  faults(pair.b, { drop: 1, seed: 1 })
  for (let i = 0; i < 3; i++) write(i)
  await until('three WRITEs sent', () => sent(pair.a).length >= 3)
  a.qp.modify(notify === undefined ? { qpState: QpState.SQD } : { qpState: QpState.SQD, enSqdAsyncNotify: notify })
  t.equal(a.qp.state, QpState.SQD, 'RTS -> SQD')
  write(3)
  t.throws(() => a.qp.modify({ qpState: QpState.RTS }), { code: ErrorCodes.EINVAL }, 'SQD -> RTS while draining: EINVAL (__qp_chk_state)')
  t.throws(() => a.qp.modify({ qpState: QpState.SQD, timeout: 14 }), { code: ErrorCodes.EINVAL }, 'SQD -> SQD while draining: EINVAL')
  t.equal(pair.a.device.asyncEvents.poll().length, 0, 'no event while WQEs are outstanding')
  faults(pair.b, null)
  // The retransmit timer resends the three; their ACKs come now.
  const wcs = await a.cq.take(3, 5000)
  t.same(wcs.map((w) => [w.wrId, w.status]), [[0, WcStatus.SUCCESS], [1, WcStatus.SUCCESS], [2, WcStatus.SUCCESS]], 'the WQEs started before SQD complete')
  const events = pair.a.device.asyncEvents.poll()
  if (wantEvent) t.same(events, [{ type: AsyncEventType.SQ_DRAINED, qpn: a.qp.qpNum, reason: 'send queue drained' }], 'SQ_DRAINED once the drain is done')
  else t.same(events, [], 'no SQ_DRAINED: en_sqd_async_notify was not set')
  t.equal(a.qp.state, QpState.SQD, 'the QP stays in SQD')
  await new Promise((r) => setTimeout(r, 20))
  t.equal(a.cq.count, 0, 'the WQE posted in SQD has not run')
  t.notOk(sent(pair.a).some((p) => p.reth && Number(p.reth.va) === b.mr.iova + 3 * 1024), 'nor was it sent')
  a.qp.modify({ qpState: QpState.SQD, timeout: 14, retryCnt: 6 })
  t.same([a.qp.attr.timeout, a.qp.attr.retryCnt], [14, 6], 'drained: SQD -> SQD takes TIMEOUT and RETRY_CNT (qp_state_table)')
  a.qp.modify({ qpState: QpState.RTS })
  const [w3] = await a.cq.take(1, 5000)
  t.same([w3!.wrId, w3!.status], [3, WcStatus.SUCCESS], 'back in RTS, the queued WQE runs')
  t.same(b.buf.subarray(0, 4096), a.buf.subarray(0, 4096), 'all four WRITEs landed')
}

t.test('rxe_qp_sqd: RTS -> SQD drains the send queue', async (t) => {
  await t.test('ibta model, en_sqd_async_notify set: SQ_DRAINED when the outstanding WRs have completed', (t) => drain(t, 'ibta', true, true))
  await t.test('ibta model, no en_sqd_async_notify: drained, no event', (t) => drain(t, 'ibta', undefined, false))
  await t.test('rxe model: SQ_DRAINED even without en_sqd_async_notify (req_check_sq_drain_done)', (t) => drain(t, 'rxe', undefined, true))

  await t.test('an idle QP is drained at once; SQD -> ERR flushes what is queued', async (t) => {
    const pair = await startEnginePair(t)
    const { a, b } = connectQps(pair)
    a.qp.modify({ qpState: QpState.SQD, enSqdAsyncNotify: true })
    t.same(pair.a.device.asyncEvents.poll().map((e) => e.type), [AsyncEventType.SQ_DRAINED], 'nothing outstanding: SQ_DRAINED at once')
    a.qp.postSend({ wrId: 7, opcode: WrOpcode.RDMA_WRITE, sgList: [], remoteAddr: b.mr.iova, rkey: b.mr.stag, sendFlags: S })
    a.qp.modify({ qpState: QpState.ERR })
    t.same(a.cq.poll().map((w) => [w.wrId, w.status]), [[7, WcStatus.WR_FLUSH_ERR]], 'SQD -> ERR flushes the WQE queued in SQD')
  })
})
