import t from 'tap'
import * as path from 'node:path'
import { startEnginePair, until } from './helpers/engine-pair.ts'
import { qpPair, sge } from './helpers/verbs-pair.ts'
import { pattern } from './helpers/rdma-connect.ts'
import { FrameMemory } from '../src/memory/frame-memory.ts'
import { OWNER_ANON, ServerMemory } from '../src/memory/index.ts'
import { MrTable, MrWord, type Mr } from '../src/memory/stag.ts'
import type { Qp } from '../src/verbs/qp.ts'
import { ContiguousMemory } from '../src/memory/region-memory.ts'
import { Access, SendFlags, WcOpcode, WcStatus, WrOpcode } from '../src/verbs/constants.ts'
import { WorkerDataPath } from '../src/workers/worker-data-path.ts'

// Fast-register MRs (rxe_mr.c rxe_reg_fast_mr; the kernel's ib_alloc_mr,
// ib_map_mr_sg, IB_WR_REG_MR) on a responder whose data path is the worker
// threads, as a storage target (nvme-rdma / iSER) uses them: one MR, mapped
// over one buffer, invalidated (LOCAL_INV), mapped over another and
// registered again. The workers cache regions by Mr.serial; a REG_MR gives the
// MR a new serial (MrTable.remap), so the second registration's WRITEs and
// READs reach the new pages, never the ones the MR mapped before. Data and
// statuses are checked on both sides, as rdma-core's tests/test_mr.py does.
const PAGE = 4096
const S = SendFlags.SIGNALED
const RW = Access.LOCAL_WRITE | Access.REMOTE_WRITE | Access.REMOTE_READ
const IOVA = 0x7000_0000

/**
 * Boot the worker thread (from the sources it loads tsx first: longer than the
 * requester's retry budget at the pair's time scale) with one WRITE of its own.
 */
async function warmUp(dp: WorkerDataPath, mem: ServerMemory): Promise<void> {
  const frames = mem.allocAnon(1)
  const live = new Int32Array(new SharedArrayBuffer(8))
  live[MrWord.LIVE] = 1
  const mr = { serial: -1, memory: new FrameMemory(mem, { frames, offset: 0, length: PAGE, expectedIno: OWNER_ANON }), live } as unknown as Mr
  const qp = { attr: { destQpNum: 0 }, resp: { msn: 0, failed: false } } as unknown as Qp
  let done = false
  dp.write(qp, mr, 0, new Uint8Array(8).fill(1), 0)
  dp.then(qp, () => void (done = true))
  dp.commit(qp, false)
  await until('the worker ran its first task', () => done, 60_000)
  mem.freeAnon(frames)
}

t.test('MrTable.remap - new memory, IOVA and length, and a new serial', async (t) => {
  const mrs = new MrTable()
  const mr = mrs.register(1, new ContiguousMemory(new Uint8Array(16)), RW)
  const other = mrs.register(1, new ContiguousMemory(new Uint8Array(16)), RW)
  const serial = mr.serial
  const mem = new ContiguousMemory(new Uint8Array(64))
  mrs.remap(mr, { memory: mem, iova: 0x1000 })
  t.equal(mr.memory, mem)
  t.same([mr.iova, mr.length], [0x1000, 64], 'IOVA and length of the new mapping')
  t.not(mr.serial, serial, 'a new serial')
  t.not(mr.serial, other.serial, 'unique among the registrations')
  mrs.deregister(mr)
  t.throws(() => mrs.remap(mr, { memory: mem, iova: 0 }), { code: 'ERR_EINVAL' }, 'a deregistered MR cannot be remapped')
})

t.test('fast-reg on the worker data path - REG_MR over new pages after LOCAL_INV: WRITE and READ reach the new pages', async (t) => {
  // Timers at their real scale: a worker batch on a loaded machine may take longer than the 6.7 ms ACK timeout of the default 0.1.
  const pair = await startEnginePair(t, { timeScale: 1 })
  const mem = new ServerMemory({ dataDir: path.join(t.testdir(), 'data'), deviceBytes: 64 * PAGE, ramBytes: 64 * PAGE })
  t.teardown(() => mem.close())
  const device = pair.b.device
  // b's responder runs every batch in one worker thread (none in place).
  const dp = new WorkerDataPath(mem.shared(), { workers: 1, emit: (qp, pkt) => device.emit(qp.attr.destNode, pkt), inlineBelowBytes: 0, offload: 'always' })
  const inline = device.dataPath
  device.dataPath = dp
  let stopped = false
  const stop = async (): Promise<void> => {
    if (stopped) return
    stopped = true
    device.dataPath = inline
    await dp.close()
  }
  t.teardown(stop)
  await warmUp(dp, mem)
  const p = qpPair(pair)
  const mr = device.allocMr(p.b.pd, 2)
  const region = (fill: number): { fm: FrameMemory; bytes: () => Uint8Array } => {
    const frames = mem.allocAnon(2)
    const fm = new FrameMemory(mem, { frames, offset: 0, length: 2 * PAGE, expectedIno: OWNER_ANON })
    fm.copyIn(0, new Uint8Array(2 * PAGE).fill(fill))
    return { fm, bytes: () => Uint8Array.from(frames.flatMap((f) => [...mem.phys.frameView(f)])) }
  }
  const register = async (key: number, wrId: number): Promise<void> => {
    p.b.qp.postSend({ wrId, opcode: WrOpcode.REG_MR, reg: { mr, key: ((mr.stag & ~0xff) | key) >>> 0, access: RW }, sendFlags: S })
    const wc = await p.b.cq.next()
    t.match(wc, { wrId, status: WcStatus.SUCCESS, opcode: WcOpcode.REG_MR }, `REG_MR with key byte 0x${key.toString(16)} completes`)
  }
  /** a READs the MR's 8 KiB into its buffer at 32 KiB; returns the bytes. */
  const readBack = async (wrId: number): Promise<Uint8Array> => {
    p.a.qp.postSend({ wrId, opcode: WrOpcode.RDMA_READ, sgList: [sge(p.a, 8 * PAGE, 2 * PAGE)], remoteAddr: IOVA, rkey: mr.stag, sendFlags: S })
    t.match(await p.a.cq.next(), { wrId, status: WcStatus.SUCCESS, opcode: WcOpcode.RDMA_READ, byteLen: 2 * PAGE }, 'READ completes')
    return Uint8Array.from(p.a.buf.subarray(8 * PAGE, 10 * PAGE))
  }
  const write = async (wrId: number, data: Uint8Array): Promise<void> => {
    p.a.buf.set(data, 0)
    p.a.qp.postSend({ wrId, opcode: WrOpcode.RDMA_WRITE, sgList: [sge(p.a, 0, data.length)], remoteAddr: IOVA, rkey: mr.stag, sendFlags: S })
    t.match(await p.a.cq.next(), { wrId, status: WcStatus.SUCCESS, opcode: WcOpcode.RDMA_WRITE }, 'WRITE completes')
  }

  // The first mapping: the workers cache its region under the MR's serial.
  const one = region(0x11)
  t.equal(device.mapMrSg(mr, one.fm, IOVA), 2)
  await register(0x21, 1)
  const serial1 = mr.serial
  const tasks0 = dp.counters.tasks
  t.ok((await readBack(2)).every((b) => b === 0x11), 'READ returns the first mapping')
  const d1 = pattern(2 * PAGE, 1)
  await write(3, d1)
  t.same(one.bytes(), d1, 'the WRITE landed in the first mapping')
  t.same(await readBack(4), d1, 'READ returns it')
  t.ok(dp.counters.tasks - tasks0 >= 3, `the worker ran them (${dp.counters.tasks - tasks0} tasks)`)

  // nvme-rdma's pattern: LOCAL_INV, map the MR over the next request's pages, REG_MR with the next key.
  p.b.qp.postSend({ wrId: 5, opcode: WrOpcode.LOCAL_INV, invalidateRkey: mr.stag, sendFlags: S })
  t.match(await p.b.cq.next(), { wrId: 5, status: WcStatus.SUCCESS, opcode: WcOpcode.LOCAL_INV }, 'LOCAL_INV completes')
  const two = region(0x22)
  t.equal(device.mapMrSg(mr, two.fm, IOVA), 2)
  await register(0x22, 6)
  t.not(mr.serial, serial1, 'the REG_MR gave the MR a new serial')
  const tasks1 = dp.counters.tasks
  t.ok((await readBack(7)).every((b) => b === 0x22), 'READ returns the new mapping, not the one the worker cached before')
  const d2 = pattern(2 * PAGE, 2)
  await write(8, d2)
  t.same(two.bytes(), d2, 'the WRITE landed in the new mapping')
  t.same(one.bytes(), d1, 'the old pages are untouched')
  t.same(await readBack(9), d2, 'READ returns the new bytes')
  t.ok(dp.counters.tasks - tasks1 >= 3, `the worker ran them too (${dp.counters.tasks - tasks1} tasks)`)
  t.equal(dp.counters.faults, 0, 'no data-path fault')
  t.equal(mem.oracle.report().corruptBytes, 0, 'the oracle saw no stray DMA')
  await stop()
})
