/**
 * The data-movement suite: every operation moves the right bytes, checked on
 * the side that receives them, at sizes around the MTU boundaries. Run over
 * real node processes and the ZeroMQ fabric (rc-data-movement) and over two
 * hosts in one process on the loopback transport (engine-data-movement).
 */
import type { Test } from 'tap'
import { connect, pattern, ALL_ACCESS, type RdmaHosts } from './rdma-connect.ts'
import { SendFlags, WcOpcode, WcStatus, WrOpcode } from '../../src/verbs/constants.ts'

const MTU = 4096
const SIZES = [0, 1, MTU - 1, MTU, MTU + 1, 1 << 20]
const S = SendFlags.SIGNALED

export async function dataMovement(t: Test, rc: RdmaHosts): Promise<void> {
  const c = await connect(rc, { serverBytes: 2 << 20 })
  const dev = rc.local.device
  const local = dev.regMr(c.pd, 2 << 20, ALL_ACCESS)
  const buf = local.memory.view(0, 2 << 20)!
  const sm = c.serverMr

  for (const size of SIZES) {
    await t.test(`WRITE ${size} bytes lands in server memory`, async (t) => {
      const data = pattern(size, size + 1)
      buf.set(data, 0)
      c.qp.postSend({ wrId: 1, opcode: WrOpcode.RDMA_WRITE, sgList: [{ addr: local.iova, length: size, lkey: local.stag }], remoteAddr: sm.iova + 8, rkey: sm.stag, sendFlags: S })
      const wc = await c.cq.next()
      t.equal(wc.status, WcStatus.SUCCESS)
      t.equal(wc.opcode, WcOpcode.RDMA_WRITE)
      const got = await rc.server.read(sm.stag, 8, size)
      t.same(Buffer.from(got), Buffer.from(data))
    })

    await t.test(`READ ${size} bytes lands in local memory`, async (t) => {
      const data = pattern(size, size + 7)
      await rc.server.write(sm.stag, 16, data)
      buf.fill(0)
      c.qp.postSend({ wrId: 2, opcode: WrOpcode.RDMA_READ, sgList: [{ addr: local.iova + 3, length: size, lkey: local.stag }], remoteAddr: sm.iova + 16, rkey: sm.stag, sendFlags: S })
      const wc = await c.cq.next()
      t.equal(wc.status, WcStatus.SUCCESS)
      t.equal(wc.opcode, WcOpcode.RDMA_READ)
      t.equal(wc.byteLen, size)
      t.same(Buffer.from(buf.subarray(3, 3 + size)), Buffer.from(data))
    })

    await t.test(`SEND ${size} bytes into a posted receive`, async (t) => {
      const data = pattern(size, size + 3)
      buf.set(data, 0)
      await rc.server.postRecv(c.remoteQpn, [{ wrId: 77, sgList: [{ stag: sm.stag, offset: 100, length: Math.max(size, 1) }] }])
      c.qp.postSend({ wrId: 3, opcode: WrOpcode.SEND, sgList: [{ addr: local.iova, length: size, lkey: local.stag }], sendFlags: S })
      t.equal((await c.cq.next()).status, WcStatus.SUCCESS)
      const [rwc] = await rc.server.pollCq(c.remoteQpn, 'recv', { min: 1, waitMs: 5000 })
      t.equal(rwc!.status, WcStatus.SUCCESS)
      t.equal(rwc!.wrId, 77)
      t.equal(rwc!.byteLen, size)
      t.equal(rwc!.opcode, WcOpcode.RECV)
      t.same(Buffer.from(await rc.server.read(sm.stag, 100, size)), Buffer.from(data))
    })
  }

  await t.test('WRITE_WITH_IMM delivers the bytes and the immediate', async (t) => {
    const data = pattern(MTU + 1, 9)
    buf.set(data, 0)
    await rc.server.postRecv(c.remoteQpn, [{ wrId: 5, sgList: [] }])
    c.qp.postSend({ wrId: 4, opcode: WrOpcode.RDMA_WRITE_WITH_IMM, imm: 0xdeadbeef, sgList: [{ addr: local.iova, length: data.length, lkey: local.stag }], remoteAddr: sm.iova, rkey: sm.stag, sendFlags: S })
    t.equal((await c.cq.next()).status, WcStatus.SUCCESS)
    const [rwc] = await rc.server.pollCq(c.remoteQpn, 'recv', { min: 1, waitMs: 5000 })
    t.equal(rwc!.opcode, WcOpcode.RECV_RDMA_WITH_IMM)
    t.equal(rwc!.immData, 0xdeadbeef)
    t.same(Buffer.from(await rc.server.read(sm.stag, 0, data.length)), Buffer.from(data))
  })

  await t.test('SEND_WITH_IMM carries the immediate', async (t) => {
    await rc.server.postRecv(c.remoteQpn, [{ wrId: 6, sgList: [{ stag: sm.stag, offset: 0, length: 64 }] }])
    c.qp.postSend({ wrId: 5, opcode: WrOpcode.SEND_WITH_IMM, imm: 42, sgList: [{ addr: local.iova, length: 10, lkey: local.stag }], sendFlags: S })
    t.equal((await c.cq.next()).status, WcStatus.SUCCESS)
    const [rwc] = await rc.server.pollCq(c.remoteQpn, 'recv', { min: 1, waitMs: 5000 })
    t.equal(rwc!.immData, 42)
    t.equal(rwc!.byteLen, 10)
  })

  const word = (off: number) => new DataView(buf.buffer, buf.byteOffset + off, 8).getBigUint64(0, true)
  const remoteWord = async (off: number) => {
    const b = await rc.server.read(sm.stag, off, 8)
    return new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true)
  }
  const le = (v: bigint) => {
    const b = new Uint8Array(8)
    new DataView(b.buffer).setBigUint64(0, v, true)
    return b
  }

  await t.test('CMP_SWAP swaps on match and returns the old value', async (t) => {
    await rc.server.write(sm.stag, 64, le(5n))
    c.qp.postSend({ wrId: 6, opcode: WrOpcode.ATOMIC_CMP_AND_SWP, sgList: [{ addr: local.iova, length: 8, lkey: local.stag }], remoteAddr: sm.iova + 64, rkey: sm.stag, compareAdd: 5n, swap: 99n, sendFlags: S })
    const wc = await c.cq.next()
    t.equal(wc.status, WcStatus.SUCCESS)
    t.equal(wc.opcode, WcOpcode.COMP_SWAP)
    t.equal(word(0), 5n)
    t.equal(await remoteWord(64), 99n)
    c.qp.postSend({ wrId: 7, opcode: WrOpcode.ATOMIC_CMP_AND_SWP, sgList: [{ addr: local.iova, length: 8, lkey: local.stag }], remoteAddr: sm.iova + 64, rkey: sm.stag, compareAdd: 5n, swap: 1n, sendFlags: S })
    t.equal((await c.cq.next()).status, WcStatus.SUCCESS)
    t.equal(word(0), 99n, 'mismatch returns the current value')
    t.equal(await remoteWord(64), 99n, 'and leaves it alone')
  })

  await t.test('FETCH_ADD adds and returns the old value', async (t) => {
    await rc.server.write(sm.stag, 72, le(2n ** 64n - 1n))
    c.qp.postSend({ wrId: 8, opcode: WrOpcode.ATOMIC_FETCH_AND_ADD, sgList: [{ addr: local.iova + 8, length: 8, lkey: local.stag }], remoteAddr: sm.iova + 72, rkey: sm.stag, compareAdd: 3n, sendFlags: S })
    const wc = await c.cq.next()
    t.equal(wc.status, WcStatus.SUCCESS)
    t.equal(wc.opcode, WcOpcode.FETCH_ADD)
    t.equal(word(8), 2n ** 64n - 1n)
    t.equal(await remoteWord(72), 2n, 'wraps modulo 2^64')
  })

  await t.test('ATOMIC_WRITE stores 8 bytes', async (t) => {
    buf.set(le(0x0123456789abcdefn), 16)
    c.qp.postSend({ wrId: 9, opcode: WrOpcode.ATOMIC_WRITE, sgList: [{ addr: local.iova + 16, length: 8, lkey: local.stag }], remoteAddr: sm.iova + 80, rkey: sm.stag, sendFlags: S })
    const wc = await c.cq.next()
    t.equal(wc.status, WcStatus.SUCCESS)
    t.equal(wc.opcode, WcOpcode.ATOMIC_WRITE)
    t.equal(await remoteWord(80), 0x0123456789abcdefn)
  })

  // The server buffer is RAM: the FLUSH asks for global visibility (placement
  // type 1). A persistent FLUSH needs an MR with FLUSH_PERSISTENT, which only
  // persistent memory can be registered with (rxe_mr_fill_pages_from_sgt).
  await t.test('FLUSH (global visibility) after WRITE completes, and the written bytes are there', async (t) => {
    const data = pattern(5000, 11)
    buf.set(data, 0)
    c.qp.postSend([
      { wrId: 10, opcode: WrOpcode.RDMA_WRITE, sgList: [{ addr: local.iova, length: data.length, lkey: local.stag }], remoteAddr: sm.iova + 4096, rkey: sm.stag },
      { wrId: 11, opcode: WrOpcode.FLUSH, flush: { length: data.length, plt: 1 }, remoteAddr: sm.iova + 4096, rkey: sm.stag, sendFlags: S },
    ])
    const wc = await c.cq.next()
    t.equal(wc.wrId, 11)
    t.equal(wc.status, WcStatus.SUCCESS)
    t.equal(wc.opcode, WcOpcode.FLUSH)
    t.same(Buffer.from(await rc.server.read(sm.stag, 4096, data.length)), Buffer.from(data))
  })
}
