// rc-pingpong: ibv_rc_pingpong (rdma-core's libibverbs/examples/rc_pingpong.c)
// as a program of the cluster. Two hosts run this same file: the one given no
// peer is the server side, the one given the server's node id connects to it.
// They set their RC QPs up by hand (no rdma_cm): each tells the other its QP
// number and starting PSN out of band (host.send, where rc_pingpong uses a
// TCP socket), then walks its own QP RESET -> INIT -> RTR -> RTS with
// ibv_modify_qp. Then they bounce a message back and forth with SEND/RECV,
// checking every byte that arrives, and print rc_pingpong's two summary lines.
//
//   args: [-n ITERS] [-s SIZE] [-m MTU] [SERVER_NODE]
//   rdma-emu up -c nodes/examples/rc-pingpong.config.json
//
// Besides the summary, each side prints one JSON line of results (what the
// test suite checks). Any mismatch or failed completion throws: the node's
// program fails and `up` exits 1, naming it.
import { parseArgs } from 'node:util'
import { Access, QpState, SendFlags, WcOpcode, WcStatus, wcStatusName, WrOpcode } from 'rdma-emu'

const RECV_WRID = 1
const SEND_WRID = 2

export default async function (host) {
  const { values: opt, positionals } = parseArgs({
    args: [...host.args],
    allowPositionals: true,
    options: {
      iters: { type: 'string', short: 'n', default: '1000' },
      size: { type: 'string', short: 's', default: '4096' },
      mtu: { type: 'string', short: 'm', default: '1024' },
    },
  })
  const iters = Number(opt.iters)
  const size = Number(opt.size)
  const mtu = Number(opt.mtu)
  const servername = positionals[0] // as in `ibv_rc_pingpong [options] [servername]`
  const isClient = servername !== undefined

  // ibv_alloc_pd, ibv_reg_mr, ibv_create_cq, ibv_create_qp. One buffer to send
  // from and one to receive into (rc_pingpong uses one for both; two keep the
  // data check honest: what we check is only what the peer sent).
  const ctx = host.ctx
  const pd = ctx.allocPd()
  const sendMr = pd.regMr(Buffer.alloc(size), 0)
  const recvMr = pd.regMr(Buffer.alloc(size), Access.LOCAL_WRITE)
  const cq = ctx.createCq(16)
  const qp = pd.createQp({ sendCq: cq, recvCq: cq, cap: { maxSendWr: 1, maxRecvWr: 2, maxSendSge: 1, maxRecvSge: 1 } })

  // RESET -> INIT, and post the first receive (rc_pingpong pre-posts rx_depth
  // of them; one ahead is enough for a strict ping-pong).
  qp.modify({ qpState: QpState.INIT, pkeyIndex: 0, portNum: 1, qpAccessFlags: 0 })
  const postRecv = () => qp.postRecv({ wrId: RECV_WRID, sgList: [recvMr.sge()] })
  postRecv()

  // The out-of-band exchange of "LID, QPN, PSN": here the fabric id, QPN, PSN.
  const my = { node: host.id, qpn: qp.qpNum, psn: Math.floor(Math.random() * 0xffffff) }
  let rem
  if (isClient) {
    await host.send(servername, my, 'pingpong-dest')
    rem = (await host.recv({ from: servername, tag: 'pingpong-dest' })).data
  } else {
    rem = (await host.recv({ tag: 'pingpong-dest' })).data
  }
  const hex = (n, w) => '0x' + n.toString(16).padStart(w, '0')
  console.log(`  local address:  NODE ${my.node}, QPN ${hex(my.qpn, 6)}, PSN ${hex(my.psn, 6)}`)
  console.log(`  remote address: NODE ${rem.node}, QPN ${hex(rem.qpn, 6)}, PSN ${hex(rem.psn, 6)}`)

  // pp_connect_ctx: INIT -> RTR (the peer's QPN and PSN), RTR -> RTS (ours).
  qp.modify({
    qpState: QpState.RTR, pathMtu: mtu, destNode: rem.node, destQpNum: rem.qpn, rqPsn: rem.psn,
    maxDestRdAtomic: 1, minRnrTimer: 12,
  })
  qp.modify({ qpState: QpState.RTS, sqPsn: my.psn, timeout: 14, retryCnt: 7, rnrRetry: 7, maxRdAtomic: 1 })
  // The server sends its address only once its QP is in RTS, so the client's
  // first SEND (which it makes once it has that address) finds it ready.
  if (!isClient) await host.send(rem.node, my, 'pingpong-dest')

  // The message of iteration `i` from `who` (0 client, 1 server): every byte
  // depends on both, so a stale or misplaced buffer cannot pass the check.
  const fill = (buf, i, who) => {
    for (let k = 0; k < buf.length; k++) buf[k] = (k + i * 7 + who * 101) & 0xff
  }
  const check = (buf, len, i, who) => {
    if (len !== size) throw new Error(`iteration ${i}: received ${len} bytes, expected ${size}`)
    for (let k = 0; k < size; k++) {
      const want = (k + i * 7 + who * 101) & 0xff
      if (buf[k] !== want) throw new Error(`iteration ${i}: byte ${k} is ${buf[k]}, expected ${want}`)
    }
  }
  const send = (i) => {
    fill(sendMr.buffer, i, isClient ? 0 : 1)
    qp.postSend({ wrId: SEND_WRID, opcode: WrOpcode.SEND, sgList: [sendMr.sge()], sendFlags: SendFlags.SIGNALED })
  }

  // The ping-pong. The client sends first; each side, on receiving message i,
  // re-posts its receive for the next one before it answers (so the peer never
  // meets an empty receive queue), then sends. Each iteration waits for both
  // its send and its receive completion, as rc_pingpong's main loop does.
  const start = process.hrtime.bigint()
  let checked = 0
  for (let i = 0; i < iters; i++) {
    if (isClient) send(i)
    let sent = false
    let received = false
    while (!sent || !received) {
      const wc = await cq.next(5000) // ibv_req_notify_cq + ibv_get_cq_event + ibv_poll_cq
      if (wc.status !== WcStatus.SUCCESS) {
        throw new Error(`iteration ${i}: ${wc.wrId === SEND_WRID ? 'send' : 'recv'} completion failed with ${wcStatusName(wc.status)}`)
      }
      if (wc.wrId === RECV_WRID) {
        if (wc.opcode !== WcOpcode.RECV) throw new Error(`iteration ${i}: receive completed with opcode ${wc.opcode}`)
        check(recvMr.buffer, wc.byteLen, i, isClient ? 1 : 0) // the peer's message
        checked++
        received = true
        if (i + 1 < iters) postRecv()
        if (!isClient) send(i) // the server answers what it got
      } else {
        sent = true
      }
    }
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9

  // rc_pingpong's report: bytes both ways, and time per round trip.
  const bytes = size * iters * 2
  const mbitPerSec = (bytes * 8) / seconds / 1e6
  const usecPerIter = (seconds * 1e6) / iters
  console.log(`${bytes} bytes in ${seconds.toFixed(2)} seconds = ${mbitPerSec.toFixed(2)} Mbit/sec`)
  console.log(`${iters} iters in ${seconds.toFixed(2)} seconds = ${usecPerIter.toFixed(2)} usec/iter`)
  console.log(JSON.stringify({ example: 'rc-pingpong', side: isClient ? 'client' : 'server', peer: rem.node, iters, size, bytes, seconds, mbitPerSec, usecPerIter, checked }))

  // ibv_destroy_qp, ibv_dereg_mr, ibv_dealloc_pd. The peer may still be
  // waiting for our last send's ACK: give it its completion before we go.
  await host.send(rem.node, null, 'pingpong-done')
  await host.recv({ from: rem.node, tag: 'pingpong-done' })
  qp.destroy()
  sendMr.dereg()
  recvMr.dereg()
  pd.dealloc()
}
