// rping-client: the active side of rdma-core's rping (librdmacm/examples/rping.c,
// `rping -c -a SERVER -C COUNT -V -v`), as a program of the cluster. It
// connects to rping-server.mjs with the connection manager (rdma_connect),
// then for each of COUNT pings:
//
//   1. writes "rdma-ping-N: ABC..." into its source buffer and SENDs the
//      server where it is (addr, rkey, size); the server RDMA READs it;
//   2. on "go ahead", SENDs where its sink buffer is; the server RDMA WRITEs
//      what it read into it;
//   3. on "go ahead", checks the sink holds exactly the ping (-V).
//
// then disconnects (rdma_disconnect), which ends the server's loop too.
//
//   args: -a SERVER_NODE [-p PORT] [-C COUNT] [-S SIZE] [-v]
//   rdma-emu up -c nodes/examples/rping.config.json
//
// A ping that comes back different throws ("data mismatch"). It prints one
// JSON line of results at the end.
import { parseArgs } from 'node:util'
import { Access, SendFlags, WcOpcode, WcStatus, wcStatusName, WrOpcode } from 'rdma-emu'

// struct rping_rdma_info { __be64 buf; __be32 rkey; __be32 size; }: the buffer advertisement.
const INFO_BYTES = 16
const writeInfo = (b, mr, size) => {
  const v = Buffer.from(b.buffer, b.byteOffset, INFO_BYTES)
  v.writeBigUInt64BE(BigInt(mr.addr), 0)
  v.writeUInt32BE(mr.rkey, 8)
  v.writeUInt32BE(size, 12)
}

export default async function (host) {
  const { values: opt } = parseArgs({
    args: [...host.args],
    options: {
      addr: { type: 'string', short: 'a' },
      port: { type: 'string', short: 'p', default: '7174' },
      count: { type: 'string', short: 'C', default: '10' },
      size: { type: 'string', short: 'S', default: '64' },
      verbose: { type: 'boolean', short: 'v', default: false },
    },
  })
  if (!opt.addr) throw new Error('rping client: -a SERVER_NODE is required')
  const port = Number(opt.port)
  const count = Number(opt.count)
  const size = Number(opt.size)

  // rping_setup_buffers: advertisements in and out, the source buffer the
  // server READs (REMOTE_READ) and the sink it WRITEs (REMOTE_WRITE).
  const pd = host.ctx.allocPd()
  const recvMr = pd.regMr(Buffer.alloc(INFO_BYTES), Access.LOCAL_WRITE)
  const sendMr = pd.regMr(Buffer.alloc(INFO_BYTES), 0)
  const startMr = pd.regMr(Buffer.alloc(size), Access.REMOTE_READ)
  const rdmaMr = pd.regMr(Buffer.alloc(size), Access.LOCAL_WRITE | Access.REMOTE_WRITE)
  const cq = host.ctx.createCq(16)
  const recvCq = host.ctx.createCq(16)
  const postRecv = (qp) => qp.postRecv({ wrId: 1, sgList: [recvMr.sge()] })

  // rdma_resolve_addr + rdma_resolve_route + rdma_connect, with our first
  // receive posted before the connection is up. A server not listening yet is
  // retried (retryMs) before ECONNREFUSED.
  const conn = await host.cm.connect(opt.addr, port, { pd, cq, recvCq, prepare: postRecv, retryMs: 5000 })
  console.log(`rping client: connected to ${conn.peer} port ${port}`)
  const qp = conn.qp

  const completion = async (which, what) => {
    const wc = await which.next(10_000)
    if (wc.status !== WcStatus.SUCCESS) throw new Error(`${what} failed: ${wcStatusName(wc.status)}`)
    return wc
  }
  // SEND an advertisement of `mr`, then wait for the server's "go ahead".
  const advertise = async (mr, what) => {
    writeInfo(sendMr.buffer, mr, size)
    qp.postSend({ wrId: 2, opcode: WrOpcode.SEND, sgList: [sendMr.sge()], sendFlags: SendFlags.SIGNALED })
    await completion(cq, `${what} advertisement SEND`)
    const wc = await completion(recvCq, `go-ahead after the ${what} advertisement`)
    if (wc.opcode !== WcOpcode.RECV) throw new Error(`expected a RECV, got opcode ${wc.opcode}`)
    postRecv(qp) // for the next go-ahead, before we SEND again
  }

  // rping_test_client's loop.
  const start = process.hrtime.bigint()
  let first = 65 // 'A': each ping's letters start one further, wrapping after 'z'
  let verified = 0
  for (let ping = 0; ping < count; ping++) {
    const buf = startMr.buffer
    const head = Buffer.from(`rdma-ping-${ping}: `, 'latin1')
    buf.set(head.subarray(0, size))
    for (let i = head.length, c = first; i < size; i++) {
      buf[i] = c
      c = c >= 122 ? 65 : c + 1
    }
    first = first >= 122 ? 65 : first + 1
    buf[size - 1] = 0
    rdmaMr.buffer.fill(0) // so a WRITE that never came cannot pass the check

    await advertise(startMr, 'source') // the server READs startMr
    await advertise(rdmaMr, 'sink') // the server WRITEs rdmaMr

    // -V: memcmp(start_buf, rdma_buf, size).
    if (Buffer.compare(startMr.buffer, rdmaMr.buffer) !== 0) {
      const at = startMr.buffer.findIndex((b, i) => b !== rdmaMr.buffer[i])
      throw new Error(`data mismatch! ping ${ping}: byte ${at} is ${rdmaMr.buffer[at]}, sent ${startMr.buffer[at]}`)
    }
    verified++
    if (opt.verbose) console.log(`ping data: ${Buffer.from(rdmaMr.buffer.subarray(0, size - 1)).toString('latin1')}`)
  }
  const ms = Number(process.hrtime.bigint() - start) / 1e6

  // rdma_disconnect: both QPs go to ERR; the server sees DISCONNECTED.
  await conn.disconnect()
  console.log(`rping client: ${verified} of ${count} pings of ${size} bytes verified in ${ms.toFixed(1)} ms (${((ms * 1000) / count).toFixed(1)} usec/ping)`)
  console.log(JSON.stringify({ example: 'rping', side: 'client', peer: conn.peer, count, size, verified, ms }))
  qp.destroy()
  for (const mr of [recvMr, sendMr, startMr, rdmaMr]) mr.dereg()
  pd.dealloc()
}
