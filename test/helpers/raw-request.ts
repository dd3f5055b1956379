/**
 * Request packets a well-behaved requester never sends, for tests of the
 * responder's checks: encoded here and sent from host a's control plane to
 * host b (so they pass b's source check, as a's QP's own packets do).
 */
import { decodePacket, encodePacket, type Packet, type PacketInit } from '../../fabric/codec.ts'
import { Aeth, Op } from '../../src/engine/opcodes.ts'
import { sent, until, type EnginePair } from './engine-pair.ts'

/** Send raw request packets from a to b; resolves with what b sent back (the pair must capture). */
export async function inject(pair: EnginePair, packets: Array<PacketInit | Uint8Array>): Promise<Packet[]> {
  const before = pair.b.wire.out.length
  pair.a.control.sendData(pair.b.id, packets.map((p) => (p instanceof Uint8Array ? p : encodePacket(p))))
  await until('b to answer', () => pair.b.wire.out.length > before)
  // Whatever else b answers leaves within this turn; give the loopback a turn to be sure.
  await new Promise((r) => setImmediate(r))
  return sent(pair.b).slice(before)
}

/** The NAK syndromes (0x60-0x64) among `answers`. */
export function naks(answers: Packet[]): number[] {
  return answers.filter((p) => p.opcode === Op.ACKNOWLEDGE && (p.aeth!.syndrome & Aeth.TYPE_MASK) === Aeth.NAK).map((p) => p.aeth!.syndrome)
}

/** `raw` (an encoded packet) with BTH.PadCnt set to `pad`: the decoder then takes `pad` bytes of the payload for padding. */
export function withPadCount(raw: Uint8Array, pad: number): Uint8Array {
  const out = Uint8Array.from(raw)
  out[1] = (out[1]! & ~0x30) | ((pad & 3) << 4)
  decodePacket(out) // still a well-formed packet
  return out
}
