import t from 'tap'
import { connectQps, startEnginePair, type QpEnd } from './helpers/engine-pair.ts'
import { Access, QpState, SendFlags, WcStatus, WrOpcode } from '../src/verbs/constants.ts'
import type { SendWr } from '../src/engine/wqe.ts'

// FLUSH at the responder, as rxe_resp.c does it (pyverbs tests/test_flush.py
// drives the same paths):
// - check_qp_attr_access: the QP needs IB_ACCESS_FLUSH_GLOBAL and/or
//   IB_ACCESS_FLUSH_PERSISTENT for the placement types asked for, else the
//   request is invalid (RESPST_ERR_UNSUPPORTED_OPCODE -> REM_INV_REQ_ERR);
// - check_rkey: the rkey is checked for a FLUSH of any length, zero
//   included (only READ and WRITE are exempt at length 0), and a flush of
//   the whole MR (IB_FLUSH_MR) skips the range check;
// - process_flush: IB_FLUSH_MR flushes the MR from its start to its end.
// The buffers stand for persistent memory (`pmem`): only such an MR may hold
// IB_ACCESS_FLUSH_PERSISTENT (rxe_mr_fill_pages_from_sgt).
const S = SendFlags.SIGNALED
const RW = Access.REMOTE_WRITE | Access.REMOTE_READ | Access.REMOTE_ATOMIC

function flushWr(b: QpEnd, o: { off?: number; length: number; sel?: number; plt?: number; rkey?: number }): SendWr {
  return { wrId: 1, opcode: WrOpcode.FLUSH, remoteAddr: b.mr.iova + (o.off ?? 0), rkey: o.rkey ?? b.mr.stag, flush: { length: o.length, sel: o.sel ?? 0, plt: o.plt ?? 2 }, sendFlags: S }
}

/** Record the (offset, length) of every flush of b's buffer. */
function spyFlush(b: QpEnd): Array<[number, number]> {
  const calls: Array<[number, number]> = []
  b.mr.memory.flush = (off: number, len: number) => {
    calls.push([off, len])
  }
  return calls
}

t.test('engine - FLUSH needs the QP flush rights of its placement type (rxe check_qp_attr_access)', async (t) => {
  const pair = await startEnginePair(t)
  for (const [name, accessB, plt, status] of [
    ['no flush rights, persistent', RW, 2, WcStatus.REM_INV_REQ_ERR],
    ['no flush rights, global', RW, 1, WcStatus.REM_INV_REQ_ERR],
    ['FLUSH_GLOBAL only, persistent', RW | Access.FLUSH_GLOBAL, 2, WcStatus.REM_INV_REQ_ERR],
    ['FLUSH_GLOBAL only, both', RW | Access.FLUSH_GLOBAL, 3, WcStatus.REM_INV_REQ_ERR],
    ['FLUSH_GLOBAL only, global', RW | Access.FLUSH_GLOBAL, 1, WcStatus.SUCCESS],
    ['FLUSH_PERSISTENT only, persistent', RW | Access.FLUSH_PERSISTENT, 2, WcStatus.SUCCESS],
    ['both rights, both', RW | Access.FLUSH_GLOBAL | Access.FLUSH_PERSISTENT, 3, WcStatus.SUCCESS],
  ] as const) {
    const { a, b } = connectQps(pair, { accessB, pmem: true })
    a.qp.postSend(flushWr(b, { length: 64, plt }))
    t.equal((await a.cq.next()).status, status, name)
    t.equal(b.qp.state, status === WcStatus.SUCCESS ? QpState.RTS : QpState.ERR, `${name}: responder QP state`)
  }
})

t.test('engine - FLUSH of the whole MR skips the range check and flushes the MR (rxe check_rkey IB_FLUSH_MR, process_flush)', async (t) => {
  const pair = await startEnginePair(t)
  const { a, b } = connectQps(pair, { mrBytes: 8192, pmem: true })
  const calls = spyFlush(b)
  // A range far outside the MR: ignored at selectivity IB_FLUSH_MR.
  a.qp.postSend(flushWr(b, { off: 1 << 20, length: 1 << 20, sel: 1 }))
  t.equal((await a.cq.next()).status, WcStatus.SUCCESS, 'MR-wide flush with a range outside the MR succeeds')
  a.qp.postSend(flushWr(b, { off: 0, length: 0, sel: 1 }))
  t.equal((await a.cq.next()).status, WcStatus.SUCCESS, 'and with no range at all')
  t.same(calls, [[0, 8192], [0, 8192]], 'each flushed the whole MR')
  a.qp.postSend(flushWr(b, { off: 4096, length: 100 }))
  t.equal((await a.cq.next()).status, WcStatus.SUCCESS, 'a range flush inside the MR')
  t.same(calls.at(-1), [4096, 100], 'flushes its range')
  a.qp.postSend(flushWr(b, { off: 8000, length: 1000 }))
  t.equal((await a.cq.next()).status, WcStatus.REM_ACCESS_ERR, 'a range flush past the end of the MR fails its range check')
})

t.test('engine - FLUSH checks the rkey at length 0 (rxe check_rkey: only READ and WRITE are exempt)', async (t) => {
  const pair = await startEnginePair(t)
  {
    const { a, b } = connectQps(pair, { pmem: true })
    const calls = spyFlush(b)
    a.qp.postSend(flushWr(b, { length: 0 }))
    t.equal((await a.cq.next()).status, WcStatus.SUCCESS, 'zero-length FLUSH with a valid rkey')
    t.same(calls, [], 'has nothing to flush')
  }
  {
    const { a, b } = connectQps(pair, { pmem: true })
    a.qp.postSend(flushWr(b, { length: 0, rkey: (b.mr.stag ^ 0x5a) >>> 0 }))
    t.equal((await a.cq.next()).status, WcStatus.REM_ACCESS_ERR, 'zero-length FLUSH with a bad rkey is a remote access error')
    t.equal(b.qp.state, QpState.ERR)
  }
  {
    const { a, b } = connectQps(pair)
    const nopersist = pair.b.device.regMr(b.pd, 4096, Access.LOCAL_WRITE | Access.REMOTE_WRITE | Access.FLUSH_GLOBAL)
    a.qp.postSend({ ...flushWr(b, { length: 0, plt: 2 }), remoteAddr: nopersist.iova, rkey: nopersist.stag })
    t.equal((await a.cq.next()).status, WcStatus.REM_ACCESS_ERR, 'zero-length persistent FLUSH of an MR without FLUSH_PERSISTENT')
  }
})
