import t from 'tap'
import { connectQps, startEnginePair } from './helpers/engine-pair.ts'
import { inject, naks, withPadCount } from './helpers/raw-request.ts'
import { encodePacket, type PacketInit } from '../fabric/codec.ts'
import { Aeth, Op } from '../src/engine/opcodes.ts'
import { QpState } from '../src/verbs/constants.ts'

// Packet lengths as rxe_resp_check_length checks them (IBA C9-92, C9-94),
// after check_resource and before check_rkey: a packet with a payload is at
// most one MTU as an ONLY, exactly one MTU as a FIRST or MIDDLE, 1 to MTU
// bytes as a LAST; a RETH length above 2^31 is an invalid request, not an
// access error. Then check_rkey's WRITE checks: the payload (its pad
// included) must match what the RETH length leaves. Each failure is
// RESPST_ERR_LENGTH, class C: NAK 0x61 and the responder QP in ERR.
const MTU = 256
const INV = Aeth.NAK_INVALID_REQUEST

t.test('engine - request lengths (rxe_resp_check_length, check_rkey)', async (t) => {
  const pair = await startEnginePair(t, { capture: true })
  const bytes = (n: number) => new Uint8Array(n).fill(7)
  const cases: Array<[string, (qpn: number, va: bigint, rkey: number) => Array<PacketInit | Uint8Array>, number]> = [
    ['SEND_ONLY longer than the MTU', (destQp) => [{ opcode: Op.SEND_ONLY, destQp, psn: 0, payload: bytes(MTU + 4) }], INV],
    ['WRITE_ONLY longer than the MTU (though equal to its RETH length)', (destQp, va, rkey) => [{ opcode: Op.RDMA_WRITE_ONLY, destQp, psn: 0, reth: { va, rkey, len: MTU + 4 }, payload: bytes(MTU + 4) }], INV],
    ['SEND_FIRST shorter than the MTU', (destQp) => [{ opcode: Op.SEND_FIRST, destQp, psn: 0, payload: bytes(100) }], INV],
    ['WRITE_MIDDLE shorter than the MTU', (destQp, va, rkey) => [
      { opcode: Op.RDMA_WRITE_FIRST, destQp, psn: 0, reth: { va, rkey, len: 3 * MTU }, payload: bytes(MTU) },
      { opcode: Op.RDMA_WRITE_MIDDLE, destQp, psn: 1, payload: bytes(100) },
    ], INV],
    ['SEND_LAST with no payload', (destQp) => [
      { opcode: Op.SEND_FIRST, destQp, psn: 0, payload: bytes(MTU) },
      { opcode: Op.SEND_LAST, destQp, psn: 1, payload: bytes(0) },
    ], INV],
    ['READ with a RETH length of 2^31 + 1 (invalid request, not an access error)', (destQp, va, rkey) => [{ opcode: Op.RDMA_READ_REQUEST, destQp, psn: 0, ackReq: true, reth: { va, rkey, len: 2 ** 31 + 1 } }], INV],
    ['WRITE_FIRST with a RETH length of 2^31 + 1', (destQp, va, rkey) => [{ opcode: Op.RDMA_WRITE_FIRST, destQp, psn: 0, reth: { va, rkey, len: 2 ** 31 + 1 }, payload: bytes(MTU) }], INV],
    ['READ with a RETH length of exactly 2^31 passes the length check, fails the range check', (destQp, va, rkey) => [{ opcode: Op.RDMA_READ_REQUEST, destQp, psn: 0, ackReq: true, reth: { va, rkey, len: 2 ** 31 } }], Aeth.NAK_REMOTE_ACCESS_ERROR],
    ['WRITE_ONLY whose pad count eats into its RETH length', (destQp, va, rkey) => [withPadCount(encodePacket({ opcode: Op.RDMA_WRITE_ONLY, destQp, psn: 0, reth: { va, rkey, len: 8 }, payload: bytes(8) }), 1)], INV],
  ]
  for (const [name, packets, syndrome] of cases) {
    const { b } = connectQps(pair, { mtu: MTU })
    b.qp.postRecv({ wrId: 1, sgList: [{ addr: b.mr.iova + 8192, length: 8192, lkey: b.mr.stag }] })
    t.same(naks(await inject(pair, packets(b.qp.qpNum, BigInt(b.mr.iova), b.mr.stag))), [syndrome], `${name}: NAK 0x${syndrome.toString(16)}`)
    t.equal(b.qp.state, QpState.ERR, `${name}: the responder QP is in ERR`)
  }
})
