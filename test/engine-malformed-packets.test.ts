import t from 'tap'
import { randomBytes } from 'node:crypto'
import { startEnginePair } from './helpers/engine-pair.ts'
import { connect, ALL_ACCESS } from './helpers/rdma-connect.ts'
import { encodePacket } from '../fabric/codec.ts'
import { Op } from '../src/engine/opcodes.ts'
import { SendFlags, WcStatus, WrOpcode } from '../src/verbs/constants.ts'

// Truncated and garbage packets sent to a live host are counted and
// dropped; the host keeps serving its connections. (Moved from the
// multi-process rc-malformed-packets test: the packets go over the fabric
// path of an in-process pair, a DATA frame on the loopback transport.)
t.test('engine - malformed packets are counted and dropped without harm', async (t) => {
  const rc = await startEnginePair(t)
  const c = await connect(rc)
  const before = await rc.server.counters()
  const good = encodePacket({ opcode: Op.RDMA_WRITE_ONLY, destQp: c.remoteQpn, psn: 0, reth: { va: 0n, rkey: 0, len: 4 }, payload: new Uint8Array(4) })
  const garbage: Uint8Array[] = [
    new Uint8Array(0),
    new Uint8Array(5),
    good.subarray(0, 20), // RETH cut short
    Uint8Array.from([0x1f, ...new Uint8Array(11)]), // unknown opcode
  ]
  for (let i = 0; i < 200; i++) garbage.push(randomBytes(1 + (i % 64)))
  rc.a.control.sendData(rc.serverId, garbage)
  // A request for a QP that does not exist, and one for a real QP from a stranger (wrong source).
  rc.a.control.sendData(rc.serverId, [encodePacket({ opcode: Op.SEND_ONLY, destQp: 0xabcdef, psn: 0, payload: new Uint8Array(8) })])

  let after = before
  for (let i = 0; i < 100 && after.badPackets + after.unknownQp - before.badPackets - before.unknownQp < garbage.length + 1; i++) {
    await new Promise((r) => setTimeout(r, 20))
    after = await rc.server.counters()
  }
  t.ok(after.badPackets - before.badPackets >= 4, `bad packets counted (${after.badPackets - before.badPackets})`)
  t.equal(after.badPackets + after.unknownQp - before.badPackets - before.unknownQp, garbage.length + 1, 'every bad packet is counted as bad or as for an unknown QP')

  const local = rc.local.device.regMr(c.pd, 64, ALL_ACCESS)
  local.memory.view(0, 4)!.set([9, 8, 7, 6])
  c.qp.postSend({ wrId: 1, opcode: WrOpcode.RDMA_WRITE, sgList: [{ addr: local.iova, length: 4, lkey: local.stag }], remoteAddr: c.serverMr.iova, rkey: c.serverMr.stag, sendFlags: SendFlags.SIGNALED })
  t.equal((await c.cq.next()).status, WcStatus.SUCCESS, 'the host still serves its QPs')
  t.same([...(await rc.server.read(c.serverMr.stag, 0, 4))], [9, 8, 7, 6])
})
