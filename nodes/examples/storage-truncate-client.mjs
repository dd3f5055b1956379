// storage-truncate-client: an RDMA client of a storage server, writing into a
// file through a file-backed MR ("an STag for storage"), as a program on a
// client node. Its peer is storage-truncate-server.mjs, which truncates the
// file under these WRITEs and reports what the server's pin policy did.
//
//   1. registers the server's file A.dat as an MR on the server
//      (host.server().regFile: ibv_reg_mr over the file's pages, long-term
//      pinned if the policy allows), and connects a QP into that server PD;
//   2. RDMA WRITEs a page of 0xC1 over and over across all 16 pages, four
//      WRITEs in flight, and tells the server once they are flowing;
//   3. goes on for 300 more completions after the server says it truncated
//      (or stops at the first failed WRITE), then reports its WRITEs.
//
//   rdma-emu up -c nodes/examples/storage-truncate.unsafe-gup.config.json
//   rdma-emu up -c nodes/examples/storage-truncate.deny.config.json
import { Access, EmuError, SendFlags, WcStatus, wcStatusName, WrOpcode } from 'rdma-emu'

const PAGE = 4096
const PORT = 7000

export default async function (host) {
  const server = host.nodesOf('server')[0]
  const { data: f } = await host.recv({ from: server, tag: 'ready' })

  // A PD on the server, a listener there whose QPs land in it, and our QP to it.
  const srv = host.server(server)
  const pd = await srv.allocPd()
  await srv.listen(PORT, { pd })
  const conn = await host.cm.connect(server, PORT)

  // The file-backed MR. The policy may refuse the long-term pin (upstream on
  // DAX: EOPNOTSUPP; layout-lease without the lease: EACCES): then there is
  // nothing to write with, and the server truncates an unpinned file.
  let mr
  let registration = 'ok'
  try {
    mr = await srv.regFile(pd, f.file, { length: f.length, access: Access.LOCAL_WRITE | Access.REMOTE_WRITE })
  } catch (err) {
    if (!(err instanceof EmuError)) throw err
    registration = err.code.replace(/^ERR_/, '')
  }
  console.log(`storage client: ${f.file} (${f.length} bytes on ${server}) as a file-backed MR: ${registration}${mr ? `, rkey 0x${mr.rkey.toString(16)}` : ''}`)

  let truncated // what the server said, once it has truncated
  const truncateDone = host.recv({ from: server, tag: 'truncated' }).then((m) => (truncated = m.data))
  const writes = { posted: 0, completed: 0, errors: 0, firstError: undefined, afterTruncate: 0 }
  if (!mr) {
    await host.send(server, { registration }, 'writing')
    await truncateDone
  } else {
    const page = conn.pd.regMr(new Uint8Array(PAGE).fill(0xc1), Access.LOCAL_WRITE)
    const pages = f.length / PAGE
    let told = false
    for (;;) {
      // Keep four WRITEs in flight, page after page, until 300 completions after the truncate or an error.
      const more = writes.errors === 0 && !(truncated && writes.afterTruncate >= 300)
      while (more && writes.posted - writes.completed < 4) {
        const remoteAddr = mr.addr + (writes.posted % pages) * PAGE
        conn.qp.postSend({ wrId: writes.posted, opcode: WrOpcode.RDMA_WRITE, sgList: [page.sge()], remoteAddr, rkey: mr.rkey, sendFlags: SendFlags.SIGNALED })
        writes.posted++
      }
      if (writes.completed === writes.posted) break
      const wc = await conn.cq.next(10_000)
      writes.completed++
      if (truncated) writes.afterTruncate++
      if (wc.status !== WcStatus.SUCCESS) {
        writes.errors++
        writes.firstError ??= wcStatusName(wc.status)
      }
      if (!told && writes.completed >= 50) {
        told = true // the WRITEs are flowing: the server may truncate now
        void host.send(server, { registration }, 'writing')
      }
    }
  }
  console.log(`storage client: truncate ${truncated.truncate}; ${writes.completed} WRITEs completed, ${writes.errors} failed${writes.firstError ? ` (first: ${writes.firstError})` : ''}`)
  console.log(JSON.stringify({ example: 'storage-truncate', side: 'client', registration, truncate: truncated.truncate, ...writes }))

  // Report, wait until the server has looked, then give the MR back (its pins drop).
  await host.send(server, writes, 'done')
  await host.recv({ from: server, tag: 'reported' })
  await mr?.dereg()
  await conn.disconnect()
}
