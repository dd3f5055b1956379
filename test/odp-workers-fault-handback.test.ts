import t from 'tap'
import { startRdmaCluster, pattern, ALL_ACCESS } from './helpers/rdma-cluster.ts'
import { assertClean, buf, connectTo, dropPages, Op, PAGE, post, serverReq, stats, u64, type Conn } from './helpers/odp.ts'
import { Access, SendFlags, WcStatus } from '../src/verbs/constants.ts'

// The same ODP behaviours with every batch forced into the worker threads.
// Anonymous MRs fault in the workers themselves (the CPU page table is shared
// memory). A file MR whose pages were dropped from the CPU page table needs the
// filesystem: the worker hands the batch back, the QP's later batches come
// back untouched, the main thread serves the fault and finishes them in order.
// Many WRs in flight at once check that order: the last WRITE to a page wins,
// and each READ sees exactly the WRITEs posted before it.
const S = SendFlags.SIGNALED

/** Post `wrs` at once (pipelined) and wait for all their completions. */
async function burst(c: Conn, wrs: Array<{ opcode: number; remoteAddr: number; rkey: number; length: number; localOff: number; compareAdd?: bigint }>): Promise<number[]> {
  c.qp.postSend(wrs.map((w, i) => ({ wrId: i, opcode: w.opcode, sgList: [{ addr: c.local.iova + w.localOff, length: w.length, lkey: c.local.stag }], remoteAddr: w.remoteAddr, rkey: w.rkey, compareAdd: w.compareAdd, sendFlags: S })))
  const wcs = await c.cq.take(wrs.length, 20_000)
  return wcs.map((wc) => wc.status)
}

t.test('odp - faults with the worker data path forced', async (t) => {
  const rc = await startRdmaCluster(t)
  const req = serverReq(rc)
  const dp = await req('rdma.dataPath', { mode: 'workers', inlineBatchBytes: 0 })
  t.equal(dp.mode, 'workers')
  const pd = await rc.server.allocPd()
  const before = await stats(rc)

  await t.test('anonymous MR: faults served in the workers, traffic correct across drops', async (t) => {
    const c = await connectTo(rc, pd, 5401, 4 << 20)
    const b = buf(c)
    const mr = await rc.server.regMr(pd, 16 * PAGE, ALL_ACCESS | Access.ON_DEMAND)
    let counter = 0n
    for (let it = 0; it < 6; it++) {
      await dropPages(rc, mr.stag, it % 2 ? 'unmap' : 'migrate')
      const data = pattern(15 * PAGE, 40 + it)
      b.set(data, 0)
      // 15 one-page WRITEs, a READ of them all, and 8 FETCH_ADDs on page 15, in one go.
      const wrs = []
      for (let p = 0; p < 15; p++) wrs.push({ opcode: Op.RDMA_WRITE, remoteAddr: mr.iova + p * PAGE, rkey: mr.stag, length: PAGE, localOff: p * PAGE })
      wrs.push({ opcode: Op.RDMA_READ, remoteAddr: mr.iova, rkey: mr.stag, length: 15 * PAGE, localOff: 16 * PAGE })
      for (let k = 0; k < 8; k++) wrs.push({ opcode: Op.ATOMIC_FETCH_AND_ADD, remoteAddr: mr.iova + 15 * PAGE, rkey: mr.stag, length: 8, localOff: 32 * PAGE + 8 * k, compareAdd: 1n })
      const st = await burst(c, wrs)
      t.ok(st.every((s) => s === WcStatus.SUCCESS), `iteration ${it}: all ${st.length} WRs succeeded`)
      t.same(Buffer.from(b.subarray(16 * PAGE, 31 * PAGE)), Buffer.from(data), `iteration ${it}: READ after the WRITEs sees them`)
      const olds = Array.from({ length: 8 }, (_, k) => u64(b, 32 * PAGE + 8 * k))
      t.same(olds, Array.from({ length: 8 }, (_, k) => counter + BigInt(k)), `iteration ${it}: FETCH_ADDs in order`)
      counter += 8n
    }
    const s = await stats(rc)
    t.ok(s.odp.pageFaultsWorkers - before.odp.pageFaultsWorkers > 0, `faults served in the workers (${s.odp.pageFaultsWorkers - before.odp.pageFaultsWorkers})`)
    t.equal(s.odp.handbacks, before.odp.handbacks, 'none needed the main thread')
    await rc.server.deregMr(mr.stag)
  })

  for (const dax of [true, false]) {
    const kind = dax ? 'DAX' : 'page-cached'
    await t.test(`${kind} file MR: major faults handed back in order, truncate gives REM_ACCESS_ERR`, async (t) => {
      const name = `W-${kind}.dat`
      await req('fs.create', { name, dax })
      await req('fs.write', { name, offset: 0, data: new Uint8Array(4 * PAGE).fill(0x10) })
      const mr = await req('verbs.mr.regFile', { pd, file: name, offset: 0, length: 4 * PAGE, access: ALL_ACCESS | Access.ON_DEMAND })
      const c = await connectTo(rc, pd, dax ? 5402 : 5403, 4 << 20)
      const b = buf(c)
      const h0 = (await stats(rc)).odp.handbacks
      for (let it = 0; it < 4; it++) {
        // Out of the CPU page table: the next access of every page is a major fault.
        await dropPages(rc, mr.stag, 'dontneed')
        // 32 WRITEs cycling over the 4 pages (each one page of its own pattern),
        // with a READ of page 0 after the first 4 and at the end.
        const wrs = []
        const pats: Uint8Array[] = []
        for (let k = 0; k < 32; k++) {
          const d = pattern(PAGE, 1000 * it + k)
          pats.push(d)
          b.set(d, k * PAGE)
          wrs.push({ opcode: Op.RDMA_WRITE, remoteAddr: mr.iova + (k % 4) * PAGE, rkey: mr.stag, length: PAGE, localOff: k * PAGE })
          if (k === 3) wrs.push({ opcode: Op.RDMA_READ, remoteAddr: mr.iova, rkey: mr.stag, length: PAGE, localOff: 40 * PAGE })
        }
        wrs.push({ opcode: Op.RDMA_READ, remoteAddr: mr.iova, rkey: mr.stag, length: 4 * PAGE, localOff: 48 * PAGE })
        const st = await burst(c, wrs)
        t.ok(st.every((s) => s === WcStatus.SUCCESS), `iteration ${it}: all ${st.length} WRs succeeded`)
        t.same(Buffer.from(b.subarray(40 * PAGE, 41 * PAGE)), Buffer.from(pats[0]!), `iteration ${it}: the early READ saw WRITE 0, not a later one`)
        for (let p = 0; p < 4; p++) {
          t.same(Buffer.from(b.subarray((48 + p) * PAGE, (49 + p) * PAGE)), Buffer.from(pats[28 + p]!), `iteration ${it}: page ${p} holds the last WRITE to it`)
        }
        const file = await req('fs.read', { name, offset: 0, length: 4 * PAGE })
        t.same(Buffer.from(file), Buffer.from(b.subarray(48 * PAGE, 52 * PAGE)), `iteration ${it}: the file has it too`)
      }
      const s = await stats(rc)
      t.ok(s.odp.handbacks > h0, `major faults went back to the main thread (${s.odp.handbacks - h0})`)
      const dps = await req('rdma.dataPathStats')
      t.ok((dps.odpHandbacks ?? 0) > 0 && (dps.tasks ?? 0) > 0, `batches ran in the workers (${dps.tasks}), ${dps.odpHandbacks} handed back, ${dps.odpSkipped} skipped behind them, ${dps.odpHeldBatches} held back`)

      // Truncate under the MR, give the blocks to another file, then write past EOF.
      await req('fs.truncate', { name, size: PAGE })
      await req('fs.create', { name: `V-${kind}.dat`, dax })
      await req('fs.write', { name: `V-${kind}.dat`, offset: 0, data: new Uint8Array(3 * PAGE).fill(0x77) })
      t.equal(await post(c, Op.RDMA_WRITE, mr.iova + 3 * PAGE, mr.stag, PAGE), WcStatus.REM_ACCESS_ERR, 'WRITE past EOF: REM_ACCESS_ERR')
      const v = await req('fs.read', { name: `V-${kind}.dat`, offset: 0, length: 3 * PAGE })
      t.ok(v.every((x) => x === 0x77), 'the file that got the blocks is intact')
      assertClean(t, await stats(rc), `${kind} after truncate`)
      await req('verbs.mr.dereg', { stag: mr.stag })
    })
  }

  const end = await stats(rc)
  t.same(end.pins, before.pins, 'no pins taken')
  t.equal(end.odp.mrs, 0)
  assertClean(t, end, 'at the end')
})
