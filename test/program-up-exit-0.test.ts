import t from 'tap'
import { pidsMatching } from './cluster-helpers.ts'
import { programDir, runUp, writeProgram } from './helpers/programs.ts'

// Two client nodes run programs: client0 listens (its own PD, an MR over its
// own buffer, a receive posted before it accepts), client1 connects, SENDs a
// message and WRITEs into client0's buffer, then they compare what arrived.
// Both return normally, so `up` tears the cluster down by itself and exits 0.
t.test('program - up ends when its client programs end, exit 0 when all exit 0', async (t) => {
  const dir = programDir(t)
  writeProgram(dir, 'passive.mjs', `
import { Access, WcOpcode, WcStatus } from '__API__'
export default async function (host) {
  const pd = host.ctx.allocPd()
  const buf = new ArrayBuffer(8192)
  const mr = pd.regMr(buf, Access.LOCAL_WRITE | Access.REMOTE_WRITE)
  const listener = host.cm.listen(18515, { pd, prepare: (qp) => qp.postRecv({ wrId: 7, sgList: [mr.sge(0, 64)] }) })
  await host.send('client1', { addr: mr.addr, rkey: mr.rkey }, 'mr')
  const conn = await listener.accept(10000)
  const wc = await conn.recvCq.next()
  if (wc.status !== WcStatus.SUCCESS || wc.opcode !== WcOpcode.RECV || wc.wrId !== 7) throw new Error('bad receive ' + JSON.stringify(wc))
  const said = Buffer.from(buf, 0, wc.byteLen).toString()
  await host.recv({ from: 'client1', tag: 'written' })
  const written = Buffer.from(buf, 4096, 11).toString()
  if (said !== 'ping from client1' || written !== 'hello again') throw new Error('data mismatch: ' + said + ' / ' + written)
  listener.close()
}
`)
  writeProgram(dir, 'active.mjs', `
import { Access, SendFlags, WcStatus, WrOpcode } from '__API__'
export default async function (host) {
  const { data: remote } = await host.recv({ from: 'client0', tag: 'mr' })
  const conn = await host.cm.connect('client0', 18515)
  const msg = conn.pd.regMr(Buffer.from('ping from client1hello again'), 0)
  conn.qp.postSend({ wrId: 1, opcode: WrOpcode.SEND, sgList: [msg.sge(0, 17)], sendFlags: SendFlags.SIGNALED })
  conn.qp.postSend({ wrId: 2, opcode: WrOpcode.RDMA_WRITE, sgList: [msg.sge(17, 11)], remoteAddr: remote.addr + 4096, rkey: remote.rkey, sendFlags: SendFlags.SIGNALED })
  for (const wc of await conn.cq.wait(2)) if (wc.status !== WcStatus.SUCCESS) throw new Error('WR ' + wc.wrId + ' failed: ' + wc.status)
  await host.send('client0', null, 'written')
}
`)
  const r = await runUp(t, dir, {
    logLevel: 'warn',
    nodes: [
      { id: 'client0', role: 'client', program: 'passive.mjs' },
      { id: 'client1', role: 'client', program: 'active.mjs' },
    ],
  })
  t.equal(r.code, 0, `up exits 0 ${r.stderr}`)
  const ends = r.events.filter((e) => e.event === 'program')
  t.same(ends.map((e) => [e.node, e.code]).sort(), [['client0', 0], ['client1', 0]], 'both programs reported their end, status 0')
  const stopped = r.events.find((e) => e.event === 'stopped')
  t.match(stopped, { code: 0, reason: /all 2 programs ended/ }, 'the cluster stopped because the programs ended')
  t.equal(r.pids.length, 2, 'two node processes were started')
  t.same(r.leftBehind, [], 'no node process remains (by PID)')
  t.same(pidsMatching(r.runDir), [], 'no process of the run remains')
})
