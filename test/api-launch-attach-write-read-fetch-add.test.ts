import t from 'tap'
import { waitGone } from './cluster-helpers.ts'
import { Access, attachCluster, EmuError, ErrorCodes, launchCluster, QpState, SendFlags, WcOpcode, WcStatus, WrOpcode } from '../src/index.ts'

// The library in one process, through its public entry: launchCluster makes
// this process a host of a new cluster (one server node process), and
// attachCluster joins the same cluster by its run directory as a second
// host with a second Context. Each walks its own PD / MR / CQ / QP objects;
// A WRITEs from a Buffer, B READs the bytes into an ArrayBuffer, and both
// FETCH_ADD the same server word into a SharedArrayBuffer.
t.test('api - launch and attach in one process: WRITE, READ and FETCH_ADD through PD, MR, CQ and QP objects', async (t) => {
  const ALL = Access.LOCAL_WRITE | Access.REMOTE_WRITE | Access.REMOTE_READ | Access.REMOTE_ATOMIC
  const cl = await launchCluster({ name: 'api', logLevel: 'warn', nodes: [{ id: 'server0', role: 'server', server: { workers: 0 } }] }, { runDir: t.testdir() })
  const pids = cl.nodes.map((n) => n.pid)
  t.teardown(() => cl.stop())
  const b = await attachCluster(cl.runDir, { name: 'api-test' })
  t.teardown(() => b.close())
  t.not(b.host.id, cl.host.id, 'two hosts, two fabric ids')
  t.same(b.host.nodes.map((n) => n.id), ['server0'], 'the attached host sees the cluster it joined')

  const srv = cl.host.server('server0')
  const spd = await srv.allocPd()
  const smr = await srv.regMr(spd, 65536, ALL)
  await srv.listen(4791, { pd: spd })

  // Host A: every object by hand, the QP connected by the CM.
  const ctx = cl.host.ctx
  const pd = ctx.allocPd()
  const cq = ctx.createCq(64)
  const qp = pd.createQp({ sendCq: cq, cap: { maxSendWr: 16, maxRecvWr: 4 } })
  t.equal(qp.state, QpState.RESET, 'a new QP is in RESET')
  t.throws(() => qp.postSend({ opcode: WrOpcode.RDMA_WRITE, sgList: [] }), { code: ErrorCodes.EINVAL }, 'posting in RESET: EINVAL')
  const conn = await cl.host.cm.connect('server0', 4791, { qp })
  t.equal(conn.qp, qp, 'the CM connected the QP it was given')
  t.match(qp.query(), { stateName: 'RTS', destNode: 'server0', destQpNum: conn.remoteQpn, cap: { maxSendWr: 16 } }, 'ibv_query_qp: RTS, to the server QP')

  const data = Buffer.alloc(4096)
  for (let i = 0; i < data.length; i++) data[i] = (i * 7 + 3) & 0xff
  const src = pd.regMr(data, Access.LOCAL_WRITE)
  t.equal(src.lkey, src.rkey, 'lkey == rkey')
  t.same([src.length, src.access, src.buffer.buffer === data.buffer], [4096, Access.LOCAL_WRITE, true], 'the MR is over the Buffer itself')
  qp.postSend({ wrId: 1, opcode: WrOpcode.RDMA_WRITE, sgList: [src.sge()], remoteAddr: smr.addr + 128, rkey: smr.rkey, sendFlags: SendFlags.SIGNALED })
  t.match(await cq.next(), { wrId: 1, status: WcStatus.SUCCESS, opcode: WcOpcode.RDMA_WRITE }, 'WRITE completed')
  t.same(Buffer.from(await srv.readMr(smr, 128, 4096)), data, 'the server memory holds the bytes A wrote')

  // Host B: the CM makes the PD, CQ and QP.
  const bconn = await b.host.cm.connect('server0', 4791)
  const ab = new ArrayBuffer(4096)
  const dst = bconn.pd.regMr(ab, Access.LOCAL_WRITE)
  bconn.qp.postSend({ wrId: 2, opcode: WrOpcode.RDMA_READ, sgList: [dst.sge()], remoteAddr: smr.addr + 128, rkey: smr.rkey, sendFlags: SendFlags.SIGNALED })
  t.match(await bconn.cq.next(), { wrId: 2, status: WcStatus.SUCCESS, opcode: WcOpcode.RDMA_READ, byteLen: 4096 }, 'READ completed')
  t.same(Buffer.from(ab), data, "B's ArrayBuffer holds what A wrote")

  // FETCH_ADD on one server word from both hosts, originals into shared memory.
  const sab = new SharedArrayBuffer(16)
  const words = new BigUint64Array(sab)
  const amr = pd.regMr(sab, Access.LOCAL_WRITE)
  const bmr = bconn.pd.regMr(sab, Access.LOCAL_WRITE)
  qp.postSend({ wrId: 3, opcode: WrOpcode.ATOMIC_FETCH_AND_ADD, sgList: [amr.sge(0, 8)], remoteAddr: smr.addr, rkey: smr.rkey, compareAdd: 5n, sendFlags: SendFlags.SIGNALED })
  t.match(await cq.next(), { wrId: 3, status: WcStatus.SUCCESS, opcode: WcOpcode.FETCH_ADD })
  bconn.qp.postSend({ wrId: 4, opcode: WrOpcode.ATOMIC_FETCH_AND_ADD, sgList: [bmr.sge(8, 8)], remoteAddr: smr.addr, rkey: smr.rkey, compareAdd: 7n, sendFlags: SendFlags.SIGNALED })
  t.match(await bconn.cq.next(), { wrId: 4, status: WcStatus.SUCCESS, opcode: WcOpcode.FETCH_ADD })
  t.same([words[0], words[1]], [0n, 5n], 'each FETCH_ADD returned the value before it')
  const word = await srv.readMr(smr, 0, 8)
  t.equal(new DataView(word.buffer, word.byteOffset, 8).getBigUint64(0, true), 12n, 'the server word is 0 + 5 + 7')

  // Deregistered, an rkey no longer resolves: the READ fails remotely, the QP goes to ERR.
  await srv.deregMr(smr.rkey)
  qp.postSend({ wrId: 5, opcode: WrOpcode.RDMA_READ, sgList: [src.sge(0, 8)], remoteAddr: smr.addr, rkey: smr.rkey, sendFlags: SendFlags.SIGNALED })
  t.match(await cq.next(), { wrId: 5, status: WcStatus.REM_ACCESS_ERR }, 'READ through a deregistered rkey: REM_ACCESS_ERR')
  t.equal(qp.stateName, 'ERR')
  src.dereg()
  t.notOk(src.registered, 'dereg')
  t.throws(() => pd.dealloc(), EmuError, 'a PD with a QP in it stays')
  qp.destroy()
  amr.dereg()
  pd.dealloc()

  await bconn.disconnect()
  await b.close()
  await cl.stop()
  t.same(await waitGone(pids, 10_000), [], 'the node process is gone (by PID)')
})
