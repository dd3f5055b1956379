/**
 * Fabric frames. A frame is a list of parts sent and delivered atomically
 * (one ZeroMQ multipart message). Part 0 is a one-byte header naming the kind:
 *
 * - CONTROL:   [header, body]          body = one msgpackr-encoded message
 * - DATA:      [header, train]         a packet train: IBA packets back to back,
 *                                      each behind a 4-byte big-endian length;
 *                                      its header is 5 bytes: the kind, then
 *                                      `echo`, how many DATA frames the sender
 *                                      had received from the destination
 *                                      (u32 big-endian, modulo 2^32), which
 *                                      tells the destination which of its
 *                                      trains have arrived (fabric/train-pool.ts)
 * - DATA_ICRC: [header, train]         a DATA frame whose packets each end in
 *                                      a 4-byte ICRC (fabric/icrc.ts fabricIcrc,
 *                                      little-endian as rxe stores it), computed
 *                                      before any fault-injected bit flip, for
 *                                      the receiver to check (fabric/netem.ts);
 *                                      same 5-byte header as DATA
 * - HEARTBEAT: [header]                no body; consumed by the transport
 *
 * Malformed frames throw EmuError(BAD_PACKET); callers count and drop them.
 */
import { Packr } from 'msgpackr'
import { EmuError, ErrorCodes } from '../src/errors.ts'
import type { FramePart } from './transport.ts'
import { encodedLength, encodePacketInto, type PacketInit } from './codec.ts'
import { trainPool } from './train-pool.ts'

export const FrameKind = {
  CONTROL: 0x01,
  DATA: 0x02,
  HEARTBEAT: 0x03,
  DATA_ICRC: 0x04,
} as const

export type FrameKindValue = (typeof FrameKind)[keyof typeof FrameKind]

export type ParsedFrame =
  | { kind: 'control'; msg: unknown }
  | { kind: 'data'; packets: Uint8Array[]; echo: number; /** Each packet ends in its ICRC (DATA_ICRC). */ icrc: boolean }
  | { kind: 'heartbeat' }

/**
 * The one msgpackr configuration shared by every process (both ends must
 * agree, see design brief section 8):
 * - `useRecords: false`: plain maps on the wire, no shared structures to keep
 *   in sync between processes;
 * - `int64AsType: 'bigint'`: a bigint sent comes back a bigint (numbers are
 *   encoded as int32/uint32/float64 and come back numbers), so 64-bit values
 *   such as VAs round-trip exactly;
 * - `mapsAsObjects: true`: decoded maps are plain objects.
 * pack() returns a fresh region of msgpackr's buffer that later packs never
 * overwrite, so it is safe to hand to ZeroMQ's zero-copy send.
 */
export const codec = new Packr({ useRecords: false, int64AsType: 'bigint', mapsAsObjects: true })

// Headers are never mutated, so one shared instance per kind is safe to send.
const CONTROL_HEADER = Uint8Array.of(FrameKind.CONTROL)
/** Bytes of a DATA frame's header: the kind and the echo count. */
export const DATA_HEADER_BYTES = 5
const HEARTBEAT_HEADER = Uint8Array.of(FrameKind.HEARTBEAT)

/** A CONTROL frame carrying one msgpackr-encoded message. */
export function controlFrame(msg: unknown): FramePart[] {
  return [CONTROL_HEADER, codec.pack(msg)]
}

/**
 * A DATA frame: the packets of a train copied back to back into one part.
 * One ZeroMQ message per train, not per packet: a message costs about the
 * same at 4 KiB as at 64 KiB (design brief section 8), so the train is what
 * amortises it, the way a NIC's doorbell batching does.
 */
export function dataFrame(packets: Uint8Array[], echo = 0): FramePart[] {
  if (packets.length === 0) throw new EmuError(ErrorCodes.BAD_PACKET, 'data frame: empty packet train')
  return trainFrame(buildTrain(packets), echo)
}

/** A DATA frame around a train already laid out by buildTrain(). */
export function trainFrame(train: Uint8Array, echo = 0, icrc = false): FramePart[] {
  if (train.length === 0) throw new EmuError(ErrorCodes.BAD_PACKET, 'data frame: empty packet train')
  return [dataHeader(echo, icrc), train]
}

/** A DATA (or DATA_ICRC) frame header (5 bytes, so ZeroMQ copies it: never shared between frames). */
export function dataHeader(echo: number, icrc = false): Uint8Array {
  const h = new Uint8Array(DATA_HEADER_BYTES)
  h[0] = icrc ? FrameKind.DATA_ICRC : FrameKind.DATA
  h[1] = echo >>> 24
  h[2] = echo >>> 16
  h[3] = echo >>> 8
  h[4] = echo
  return h
}

/**
 * Lay a train out in one buffer: encoded packets are copied in, packets still
 * to encode (PacketInit) are encoded straight into place, so a requester's
 * payload is copied exactly once, from the registered memory to the wire.
 * `each` sees every packet's bytes in the train (counters, captures).
 */
export function buildTrain(items: Array<Uint8Array | PacketInit>, each?: (pkt: Uint8Array) => void): Uint8Array {
  let bytes = 0
  const lens = new Array<number>(items.length)
  for (let i = 0; i < items.length; i++) {
    const it = items[i]!
    lens[i] = it instanceof Uint8Array ? it.length : encodedLength(it)
    bytes += 4 + lens[i]!
  }
  const train = trainPool.take(bytes)
  let at = 0
  for (let i = 0; i < items.length; i++) {
    const it = items[i]!
    const len = lens[i]!
    train.writeUInt32BE(len, at)
    if (it instanceof Uint8Array) train.set(it, at + 4)
    else encodePacketInto(it, train, at + 4)
    each?.(train.subarray(at + 4, at + 4 + len))
    at += 4 + len
  }
  return train
}

/**
 * Lay out a DATA_ICRC train: each packet followed by its 4-byte ICRC
 * (little-endian). `icrcs[i]` is packet i's ICRC.
 */
export function buildIcrcTrain(packets: Uint8Array[], icrcs: number[]): Uint8Array {
  let bytes = 0
  for (const p of packets) bytes += 8 + p.length
  const train = trainPool.take(bytes)
  let at = 0
  for (let i = 0; i < packets.length; i++) {
    const p = packets[i]!
    const v = icrcs[i]!
    train.writeUInt32BE(p.length + 4, at)
    train.set(p, at + 4)
    at += 4 + p.length
    train[at] = v
    train[at + 1] = v >>> 8
    train[at + 2] = v >>> 16
    train[at + 3] = v >>> 24
    at += 4
  }
  return train
}

/** Split a train into its packets: views into the received buffer, no copy. */
function splitTrain(train: Uint8Array): Uint8Array[] {
  const packets: Uint8Array[] = []
  const dv = new DataView(train.buffer, train.byteOffset, train.byteLength)
  let at = 0
  while (at < train.length) {
    if (at + 4 > train.length) throw new EmuError(ErrorCodes.BAD_PACKET, `data frame: truncated length at byte ${at}`)
    const len = dv.getUint32(at)
    if (at + 4 + len > train.length) throw new EmuError(ErrorCodes.BAD_PACKET, `data frame: packet of ${len} bytes at byte ${at} runs past the train`)
    packets.push(new Uint8Array(train.buffer, train.byteOffset + at + 4, len))
    at += 4 + len
  }
  if (packets.length === 0) throw new EmuError(ErrorCodes.BAD_PACKET, 'data frame: empty packet train')
  return packets
}

/** A HEARTBEAT frame (no body). */
export function heartbeatFrame(): FramePart[] {
  return [HEARTBEAT_HEADER]
}

/** True when parts are a well-formed heartbeat (checked by transports before delivery). */
export function isHeartbeat(parts: FramePart[]): boolean {
  return parts.length === 1 && parts[0]!.length === 1 && parts[0]![0] === FrameKind.HEARTBEAT
}

/** Decode a frame; throws EmuError(BAD_PACKET) when it is malformed. */
export function parseFrame(parts: FramePart[]): ParsedFrame {
  if (parts.length === 0) throw new EmuError(ErrorCodes.BAD_PACKET, 'frame: no parts')
  const header = parts[0]!
  const kind = header[0]
  const headerBytes = kind === FrameKind.DATA || kind === FrameKind.DATA_ICRC ? DATA_HEADER_BYTES : 1
  if (header.length !== headerBytes) throw new EmuError(ErrorCodes.BAD_PACKET, `frame: header is ${header.length} bytes, expected ${headerBytes}`)
  switch (kind) {
    case FrameKind.CONTROL: {
      if (parts.length !== 2) throw new EmuError(ErrorCodes.BAD_PACKET, `control frame: ${parts.length} parts, expected 2`)
      let msg: unknown
      try {
        msg = codec.unpack(parts[1]!)
      } catch (err) {
        throw new EmuError(ErrorCodes.BAD_PACKET, `control frame: undecodable body: ${(err as Error).message}`)
      }
      return { kind: 'control', msg }
    }
    case FrameKind.DATA:
    case FrameKind.DATA_ICRC: {
      if (parts.length !== 2) throw new EmuError(ErrorCodes.BAD_PACKET, `data frame: ${parts.length} parts, expected 2`)
      const echo = ((header[1]! << 24) | (header[2]! << 16) | (header[3]! << 8) | header[4]!) >>> 0
      return { kind: 'data', packets: splitTrain(parts[1]!), echo, icrc: kind === FrameKind.DATA_ICRC }
    }
    case FrameKind.HEARTBEAT:
      if (parts.length !== 1) throw new EmuError(ErrorCodes.BAD_PACKET, `heartbeat frame: ${parts.length} parts, expected 1`)
      return { kind: 'heartbeat' }
    default:
      throw new EmuError(ErrorCodes.BAD_PACKET, `frame: unknown kind 0x${kind!.toString(16)}`)
  }
}
