// rping-server: the passive side of rdma-core's rping (librdmacm/examples/rping.c,
// `rping -s`), as a program of the cluster. It listens with the connection
// manager (rdma_listen), accepts one client, and then serves its ping loop:
//
//   1. the client SENDs where its source buffer is (addr, rkey, size);
//   2. the server RDMA READs that buffer into its own, and SENDs "go ahead";
//   3. the client SENDs where its sink buffer is;
//   4. the server RDMA WRITEs its buffer there, and SENDs "go ahead";
//
// so each round trips the client's data through the server and back, one-sided
// both ways. It ends when the client disconnects (RDMA_CM_EVENT_DISCONNECTED).
//
//   args: [-p PORT] [-S SIZE] [-v]     (its peer: rping-client.mjs)
//   rdma-emu up -c nodes/examples/rping.config.json
//
// What it READs must look like the client's ping ("rdma-ping-N: ..."), else it
// throws. It prints one JSON line of results at the end.
import { parseArgs } from 'node:util'
import { Access, SendFlags, WcOpcode, WcStatus, wcStatusName, WrOpcode } from 'rdma-emu'

// struct rping_rdma_info { __be64 buf; __be32 rkey; __be32 size; }: the buffer advertisement.
const INFO_BYTES = 16
const readInfo = (b) => {
  const v = Buffer.from(b.buffer, b.byteOffset, INFO_BYTES)
  return { addr: Number(v.readBigUInt64BE(0)), rkey: v.readUInt32BE(8), size: v.readUInt32BE(12) }
}

export default async function (host) {
  const { values: opt } = parseArgs({
    args: [...host.args],
    options: {
      port: { type: 'string', short: 'p', default: '7174' },
      size: { type: 'string', short: 'S', default: '64' },
      verbose: { type: 'boolean', short: 'v', default: false },
    },
  })
  const port = Number(opt.port)
  const size = Number(opt.size)

  // rping_setup_buffers: a receive buffer for advertisements, a send buffer for
  // "go ahead", and the RDMA buffer the READs land in and the WRITEs come from.
  const pd = host.ctx.allocPd()
  const recvMr = pd.regMr(Buffer.alloc(INFO_BYTES), Access.LOCAL_WRITE)
  const sendMr = pd.regMr(Buffer.alloc(INFO_BYTES), 0)
  const rdmaMr = pd.regMr(Buffer.alloc(size), Access.LOCAL_WRITE)
  const cq = host.ctx.createCq(16) // send completions
  const recvCq = host.ctx.createCq(16) // receive completions
  const postRecv = (qp) => qp.postRecv({ wrId: 1, sgList: [recvMr.sge()] })

  // rdma_listen, then rdma_get_cm_event(CONNECT_REQUEST) + rdma_accept: the
  // QP is made in our PD, its first receive posted before the client can send.
  const listener = host.cm.listen(port, { pd, cq, recvCq, prepare: postRecv })
  console.log(`rping server: listening on ${host.id} port ${port}`)
  const conn = await listener.accept()
  listener.close() // one client, like rping without -P
  console.log(`rping server: connected to ${conn.peer}`)
  const qp = conn.qp

  const completion = async (which, what) => {
    const wc = await which.next(10_000)
    if (wc.status !== WcStatus.SUCCESS) throw new Error(`${what} failed: ${wcStatusName(wc.status)}`)
    return wc
  }
  // The next advertisement, or null once the client has disconnected (its
  // disconnect puts our QP in ERR: the posted receive flushes).
  const nextInfo = async () => {
    const wc = await recvCq.next(10_000)
    if (wc.status === WcStatus.WR_FLUSH_ERR) return null
    if (wc.status !== WcStatus.SUCCESS || wc.opcode !== WcOpcode.RECV) throw new Error(`receive failed: ${wcStatusName(wc.status)}`)
    if (wc.byteLen !== INFO_BYTES) throw new Error(`advertisement of ${wc.byteLen} bytes, expected ${INFO_BYTES}`)
    const info = readInfo(recvMr.buffer)
    postRecv(qp) // re-post before anything that lets the client send again
    if (info.size > size) throw new Error(`client advertised ${info.size} bytes, our buffer holds ${size}`)
    return info
  }
  const goAhead = async () => {
    qp.postSend({ wrId: 3, opcode: WrOpcode.SEND, sgList: [sendMr.sge()], sendFlags: SendFlags.SIGNALED })
    await completion(cq, 'go-ahead SEND')
  }

  // rping_test_server's loop.
  let rounds = 0
  let bytesRead = 0
  let bytesWritten = 0
  for (;;) {
    const source = await nextInfo()
    if (!source) break
    // RDMA READ the client's ping into our buffer, and check it is one.
    qp.postSend({ wrId: 2, opcode: WrOpcode.RDMA_READ, sgList: [rdmaMr.sge(0, source.size)], remoteAddr: source.addr, rkey: source.rkey, sendFlags: SendFlags.SIGNALED })
    const wc = await completion(cq, `round ${rounds}: RDMA READ`)
    bytesRead += wc.byteLen
    const text = Buffer.from(rdmaMr.buffer.subarray(0, source.size)).toString('latin1').replace(/\0.*$/s, '')
    if (!text.startsWith(`rdma-ping-${rounds}: `)) throw new Error(`round ${rounds}: READ brought ${JSON.stringify(text.slice(0, 24))}, not ping ${rounds}`)
    if (opt.verbose) console.log(`server ping data: ${text}`)
    await goAhead()

    const sink = await nextInfo()
    if (!sink) throw new Error(`round ${rounds}: the client left before its sink advertisement`)
    // RDMA WRITE what we read back into the client's sink buffer.
    qp.postSend({ wrId: 4, opcode: WrOpcode.RDMA_WRITE, sgList: [rdmaMr.sge(0, sink.size)], remoteAddr: sink.addr, rkey: sink.rkey, sendFlags: SendFlags.SIGNALED })
    await completion(cq, `round ${rounds}: RDMA WRITE`)
    bytesWritten += sink.size
    await goAhead()
    rounds++
  }

  console.log(`rping server: ${conn.peer} disconnected after ${rounds} rounds`)
  console.log(JSON.stringify({ example: 'rping', side: 'server', peer: conn.peer, rounds, bytesRead, bytesWritten }))
  qp.destroy()
  for (const mr of [recvMr, sendMr, rdmaMr]) mr.dereg()
  pd.dealloc()
}
