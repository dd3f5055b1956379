/**
 * Fabric frames. A frame is a list of parts sent and delivered atomically
 * (one ZeroMQ multipart message). Part 0 is a one-byte header naming the kind:
 *
 * - CONTROL:   [header, body]          body = one msgpackr-encoded message
 * - DATA:      [header, pkt1 .. pktN]  a packet train, one IBA packet per part
 * - HEARTBEAT: [header]                no body; consumed by the transport
 *
 * Malformed frames throw EmuError(BAD_PACKET); callers count and drop them.
 */
import { Packr } from 'msgpackr'
import { EmuError, ErrorCodes } from '../src/errors.ts'
import type { FramePart } from './transport.ts'

export const FrameKind = {
  CONTROL: 0x01,
  DATA: 0x02,
  HEARTBEAT: 0x03,
} as const

export type FrameKindValue = (typeof FrameKind)[keyof typeof FrameKind]

export type ParsedFrame =
  | { kind: 'control'; msg: unknown }
  | { kind: 'data'; packets: Uint8Array[] }
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
const DATA_HEADER = Uint8Array.of(FrameKind.DATA)
const HEARTBEAT_HEADER = Uint8Array.of(FrameKind.HEARTBEAT)

/** A CONTROL frame carrying one msgpackr-encoded message. */
export function controlFrame(msg: unknown): FramePart[] {
  return [CONTROL_HEADER, codec.pack(msg)]
}

/** A DATA frame: a train of IBA packets, one part each (no copy). */
export function dataFrame(packets: Uint8Array[]): FramePart[] {
  if (packets.length === 0) throw new EmuError(ErrorCodes.BAD_PACKET, 'data frame: empty packet train')
  return [DATA_HEADER, ...packets]
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
  if (header.length !== 1) throw new EmuError(ErrorCodes.BAD_PACKET, `frame: header is ${header.length} bytes, expected 1`)
  switch (header[0]) {
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
      if (parts.length < 2) throw new EmuError(ErrorCodes.BAD_PACKET, 'data frame: empty packet train')
      return { kind: 'data', packets: parts.slice(1) }
    case FrameKind.HEARTBEAT:
      if (parts.length !== 1) throw new EmuError(ErrorCodes.BAD_PACKET, `heartbeat frame: ${parts.length} parts, expected 1`)
      return { kind: 'heartbeat' }
    default:
      throw new EmuError(ErrorCodes.BAD_PACKET, `frame: unknown kind 0x${header[0]!.toString(16)}`)
  }
}
