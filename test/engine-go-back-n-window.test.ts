import t from 'tap'
import { Params } from '../src/params.ts'
import { SendFlags, WcStatus, WrOpcode } from '../src/verbs/constants.ts'
import { connectQps, faults, sent, startEnginePair, until } from './helpers/engine-pair.ts'

// rxe_requester (rxe_req.c): the requester waits while
// psn_compare(req.psn, comp.psn + RXE_MAX_UNACKED_PSNS) > 0, with
// RXE_MAX_UNACKED_PSNS = 128 (rxe_param.h): PSNs oldest .. oldest + 128 go
// out, no further, until ACKs move the oldest on. This is the default
// outstanding-packet limit (Params.packetWindow; it was 4096).

t.test('RXE_MAX_UNACKED_PSNS: at most 128 PSNs past the oldest unacknowledged one are sent', async (t) => {
  t.equal(Params.packetWindow, 128, 'the default window is RXE_MAX_UNACKED_PSNS')
  const pair = await startEnginePair(t, { capture: true })
  // ACK timeout 18: 1.07 s * 0.1 = 107 ms, long enough to look at the first transmission.
  const { a, b } = connectQps(pair, { mtu: 256, timeout: 18, mrBytes: 1 << 16 })
  const len = 200 * 256
  for (let i = 0; i < len; i++) a.buf[i] = i * 7
  faults(pair.b, { drop: 1, seed: 1 }) // every ACK is lost
  a.qp.postSend({ wrId: 1, opcode: WrOpcode.RDMA_WRITE, sgList: [{ addr: a.mr.iova, length: len, lkey: a.mr.stag }], remoteAddr: b.mr.iova, rkey: b.mr.stag, sendFlags: SendFlags.SIGNALED })
  await until('the window is full', () => sent(pair.a).length >= 129)
  await new Promise((r) => setTimeout(r, 20))
  const first = sent(pair.a)
  t.equal(pair.a.device.counters.timeoutRetries, 0, 'no retransmission yet')
  t.equal(first.length, 129, 'the first transmission stops after 129 packets')
  t.same([first[0]!.psn, first.at(-1)!.psn], [0, 128], 'PSNs 0 .. 0 + 128')
  t.equal(pair.b.device.counters.pktsReceived, 129, 'the responder got them all')
  faults(pair.b, null)
  const [wc] = await a.cq.take(1, 5000)
  t.equal(wc!.status, WcStatus.SUCCESS, 'once ACKs get through, the rest of the 200-packet WRITE follows')
  t.same(b.buf.subarray(0, len), a.buf.subarray(0, len), 'byte for byte')
})
