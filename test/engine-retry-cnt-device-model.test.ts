import t from 'tap'
import { ErrorCodes } from '../src/errors.ts'
import { configProblems, parseConfig } from '../src/config/load-config.ts'
import { QpState, SendFlags, WcStatus, WrOpcode } from '../src/verbs/constants.ts'
import { RdmaDevice } from '../src/verbs/device.ts'
import { connectQps, faults, startEnginePair, until } from './helpers/engine-pair.ts'

// retry_cnt 7 (rxe_comp.c, COMPST_ERROR_RETRY: `if (qp->comp.retry_cnt != 7)
// qp->comp.retry_cnt--`): in IBTA and on hardware it means seven retries;
// only rnr_retry 7 is infinite. rxe's "7 = infinite" for retry_cnt is a
// quirk, kept by the `rxe` device model (the cluster config's deviceModel);
// the default `ibta` model gives up after seven.

const S = SendFlags.SIGNALED

t.test('retry_cnt 7, ibta model (the default): seven retries, then RETRY_EXC_ERR', async (t) => {
  const pair = await startEnginePair(t)
  t.equal(pair.a.device.model, 'ibta', 'the default device model is ibta')
  const { a, b } = connectQps(pair, { timeout: 8, retryCnt: 7 })
  faults(pair.a, { drop: 1, seed: 1 })
  a.qp.postSend({ wrId: 1, opcode: WrOpcode.RDMA_WRITE, sgList: [{ addr: a.mr.iova, length: 8, lkey: a.mr.stag }], remoteAddr: b.mr.iova, rkey: b.mr.stag, sendFlags: S })
  const [wc] = await a.cq.take(1, 5000)
  t.equal(wc!.status, WcStatus.RETRY_EXC_ERR, 'RETRY_EXC_ERR')
  t.equal(pair.a.device.counters.timeoutRetries, 7, 'after exactly seven retransmissions')
  t.equal(pair.a.device.faults!.counters.seen, 8, 'eight tries in all')
  t.equal(a.qp.state, QpState.ERR)
})

t.test('retry_cnt 7, rxe model: retries without end (rxe_completer), and the WR completes once the path is back', async (t) => {
  const pair = await startEnginePair(t, { deviceModel: 'rxe' })
  t.equal(pair.a.device.model, 'rxe')
  const { a, b } = connectQps(pair, { timeout: 8, retryCnt: 7 })
  faults(pair.a, { drop: 1, seed: 1 })
  a.buf.set([1, 2, 3, 4, 5, 6, 7, 8])
  a.qp.postSend({ wrId: 1, opcode: WrOpcode.RDMA_WRITE, sgList: [{ addr: a.mr.iova, length: 8, lkey: a.mr.stag }], remoteAddr: b.mr.iova, rkey: b.mr.stag, sendFlags: S })
  await until('20 retries', () => pair.a.device.counters.timeoutRetries >= 20, 10_000)
  t.equal(a.qp.state, QpState.RTS, `still in RTS after ${pair.a.device.counters.timeoutRetries} retries`)
  t.equal(a.cq.count, 0, 'no completion yet')
  faults(pair.a, null)
  const [wc] = await a.cq.take(1, 5000)
  t.equal(wc!.status, WcStatus.SUCCESS, 'the WR completes once packets get through')
  t.same([...b.buf.subarray(0, 8)], [1, 2, 3, 4, 5, 6, 7, 8], 'and its data landed')
})

t.test('retry_cnt 6 is six retries in both models', async (t) => {
  for (const model of ['ibta', 'rxe'] as const) {
    const pair = await startEnginePair(t, { deviceModel: model })
    const { a, b } = connectQps(pair, { timeout: 8, retryCnt: 6 })
    faults(pair.a, { drop: 1, seed: 1 })
    a.qp.postSend({ wrId: 1, opcode: WrOpcode.RDMA_WRITE, sgList: [], remoteAddr: b.mr.iova, rkey: b.mr.stag, sendFlags: S })
    const [wc] = await a.cq.take(1, 5000)
    t.same([wc!.status, pair.a.device.counters.timeoutRetries], [WcStatus.RETRY_EXC_ERR, 6], `${model}: RETRY_EXC_ERR after six retries`)
    await pair.close()
  }
})

t.test('deviceModel in the cluster config: "ibta" by default, "rxe" accepted, anything else refused', async (t) => {
  const nodes = [{ id: 's', role: 'server' }, { id: 'c', role: 'client' }]
  t.equal(parseConfig({ nodes }).deviceModel, 'ibta', 'default ibta')
  t.equal(parseConfig({ nodes, deviceModel: 'rxe' }).deviceModel, 'rxe', 'rxe')
  const problems = configProblems({ nodes, deviceModel: 'mlx5' })
  t.equal(problems.length, 1, 'one problem')
  t.match(problems[0], /deviceModel/, `named: ${problems[0]}`)
  t.throws(() => new RdmaDevice({ sendTrain() {} }, { deviceModel: 'mlx5' as never }), { code: ErrorCodes.EINVAL }, 'a device refuses an unknown model')
})
