/**
 * IBA packet codec: BTH + extension headers + payload + pad, every field
 * big-endian (IBTA 1.5 vol 1 chapter 9). No ICRC here: the fabric does not
 * need one, and the pcap writer appends it (fabric/icrc.ts).
 *
 * Layout and header order come from the opcode table (src/engine/opcodes.ts),
 * so the codec has no per-opcode branches. Decoding is on the hot path: it
 * reads bytes directly, touches a DataView only for 64-bit fields, and returns
 * the payload as a view into the input.
 */
import { EmuError, ErrorCodes } from '../src/errors.ts'
import { Params } from '../src/params.ts'
import { ATOMIC_WRITE_PAYLOAD, HdrBytes, Mask, Op, opInfo, type OpInfo } from '../src/engine/opcodes.ts'

export { Aeth, aethAck, aethRnrNak, aethIsAck, aethIsNak, aethIsRnrNak } from '../src/engine/opcodes.ts'

/** Why decodePacket refused a buffer (EmuError details.reason). */
export type BadPacketReason = 'short-header' | 'unknown-opcode' | 'bad-pad' | 'bad-length'

/** Why encodePacket refused a packet (EmuError details.reason). */
export type BadEncodeReason = 'unknown-opcode' | 'bad-length' | 'missing-header' | 'no-space'

export interface Reth { va: bigint; rkey: number; len: number }
export interface AethHdr { syndrome: number; msn: number }
export interface AtomicEth { va: bigint; rkey: number; swapAdd: bigint; compare: bigint }
export interface AtomicAckEth { origData: bigint }
/** FLUSH extended transport header: selectivity level (bits 5-4), placement type (bits 3-0). */
export interface Feth { sel: number; plt: number }

/**
 * A decoded packet. Every property is always present (absent headers are
 * `undefined`) so all packets share one object shape.
 */
export interface Packet {
  opcode: number
  /** BTH.SE: solicited event. */
  se: boolean
  /** BTH.M: migration state. */
  mig: boolean
  /** BTH.PadCnt: bytes of pad after the payload (0..3). */
  padCount: number
  /** BTH.TVer: transport header version (0). */
  tver: number
  pkey: number
  /** BTH resv8a bit 7 (RoCE: FECN). */
  fecn: boolean
  /** BTH resv8a bit 6 (RoCE: BECN). */
  becn: boolean
  /** 24-bit destination QP number. */
  destQp: number
  /** BTH.A: acknowledge request. */
  ackReq: boolean
  /** 24-bit packet sequence number. */
  psn: number
  reth?: Reth
  aeth?: AethHdr
  atomicEth?: AtomicEth
  atomicAckEth?: AtomicAckEth
  immDt?: number
  ieth?: number
  feth?: Feth
  /** The payload without pad: a view into the decoded buffer, not a copy. */
  payload: Uint8Array
}

/** What encodePacket needs. padCount is computed; other BTH fields default to 0/false, pkey to 0xffff. */
export interface PacketInit {
  opcode: number
  destQp: number
  psn: number
  se?: boolean
  mig?: boolean
  tver?: number
  pkey?: number
  fecn?: boolean
  becn?: boolean
  ackReq?: boolean
  reth?: Reth
  aeth?: AethHdr
  atomicEth?: AtomicEth
  atomicAckEth?: AtomicAckEth
  immDt?: number
  ieth?: number
  feth?: Feth
  payload?: Uint8Array
}

/** Default partition key (IBTA 10.9.1.1: full-member default P_Key). */
export const DEFAULT_PKEY = 0xffff

/** Largest payload one packet may carry: the largest path MTU. */
export const MAX_PAYLOAD: number = Params.mtus[Params.mtus.length - 1]

const PSN_MASK = Params.psnMask
const PSN_HALF = (Params.psnMask + 1) / 2
const EMPTY = new Uint8Array(0)

/** (a + n) mod 2^24. `n` may be negative. */
export function psnAdd(a: number, n: number): number {
  return (a + n) & PSN_MASK
}

/** a - b in 24-bit modular arithmetic, as a signed value in -2^23 .. 2^23-1. */
export function psnDiff(a: number, b: number): number {
  const d = (a - b) & PSN_MASK
  return d >= PSN_HALF ? d - 0x1000000 : d
}

function badPacket(reason: BadPacketReason | BadEncodeReason, message: string, extra?: Record<string, unknown>): never {
  throw new EmuError(ErrorCodes.BAD_PACKET, message, { reason, ...extra })
}

function infoFor(opcode: number): OpInfo {
  const info = opInfo(opcode)
  if (info === undefined) badPacket('unknown-opcode', `unknown opcode 0x${(opcode & 0xff).toString(16)}`, { opcode })
  return info
}

function checkPayloadLength(info: OpInfo, len: number): void {
  if ((info.mask & Mask.PAYLOAD) === 0) {
    if (len !== 0) badPacket('bad-length', `${info.name} carries no payload, got ${len} bytes`, { opcode: info.opcode, length: len })
    return
  }
  if (len > MAX_PAYLOAD) badPacket('bad-length', `payload of ${len} bytes exceeds ${MAX_PAYLOAD}`, { opcode: info.opcode, length: len })
  if (info.opcode === Op.ATOMIC_WRITE && len !== ATOMIC_WRITE_PAYLOAD) {
    badPacket('bad-length', `ATOMIC_WRITE payload must be ${ATOMIC_WRITE_PAYLOAD} bytes, got ${len}`, { opcode: info.opcode, length: len })
  }
}

/** Bytes encodePacket will produce for `p`: headers + payload + pad. */
export function encodedLength(p: PacketInit): number {
  const info = infoFor(p.opcode)
  const len = p.payload === undefined ? 0 : p.payload.length
  return info.length + len + ((-len) & 3)
}

/** Encode `p` into a new buffer. */
export function encodePacket(p: PacketInit): Uint8Array {
  const out = new Uint8Array(encodedLength(p))
  encodePacketInto(p, out, 0)
  return out
}

function missing(info: OpInfo, header: string): never {
  badPacket('missing-header', `${info.name} needs ${header}`, { opcode: info.opcode, header })
}

function put32(out: Uint8Array, o: number, v: number): void {
  out[o] = v >>> 24
  out[o + 1] = v >>> 16
  out[o + 2] = v >>> 8
  out[o + 3] = v
}

function put24(out: Uint8Array, o: number, v: number): void {
  out[o] = v >>> 16
  out[o + 1] = v >>> 8
  out[o + 2] = v
}

/**
 * Encode `p` into `out` at `offset` without allocating (except a DataView when
 * a 64-bit field is written). Returns the number of bytes written.
 */
export function encodePacketInto(p: PacketInit, out: Uint8Array, offset: number): number {
  const info = infoFor(p.opcode)
  const payload = p.payload ?? EMPTY
  const plen = payload.length
  checkPayloadLength(info, plen)
  const pad = (-plen) & 3
  const hlen = info.length
  const total = hlen + plen + pad
  if (offset < 0 || offset + total > out.length) {
    badPacket('no-space', `need ${total} bytes at offset ${offset}, buffer holds ${out.length}`)
  }
  const mask = info.mask
  const off = info.offset
  const o = offset

  // BTH
  out[o] = info.opcode
  out[o + 1] = (p.se ? 0x80 : 0) | (p.mig ? 0x40 : 0) | (pad << 4) | ((p.tver ?? 0) & 0x0f)
  const pkey = p.pkey ?? DEFAULT_PKEY
  out[o + 2] = pkey >>> 8
  out[o + 3] = pkey
  out[o + 4] = (p.fecn ? 0x80 : 0) | (p.becn ? 0x40 : 0)
  put24(out, o + 5, p.destQp)
  out[o + 8] = p.ackReq ? 0x80 : 0
  put24(out, o + 9, p.psn)

  let dv: DataView | undefined
  if (mask & Mask.FETH) {
    const f = p.feth ?? missing(info, 'feth')
    put32(out, o + off.feth, ((f.sel & 0x3) << 4) | (f.plt & 0xf))
  }
  if (mask & Mask.RETH) {
    const r = p.reth ?? missing(info, 'reth')
    dv = new DataView(out.buffer, out.byteOffset, out.byteLength)
    const h = o + off.reth
    dv.setBigUint64(h, r.va, false)
    put32(out, h + 8, r.rkey)
    put32(out, h + 12, r.len)
  }
  if (mask & Mask.AETH) {
    const a = p.aeth ?? missing(info, 'aeth')
    const h = o + off.aeth
    out[h] = a.syndrome
    put24(out, h + 1, a.msn)
  }
  if (mask & Mask.ATOMIC_ACK_ETH) {
    const a = p.atomicAckEth ?? missing(info, 'atomicAckEth')
    dv ??= new DataView(out.buffer, out.byteOffset, out.byteLength)
    dv.setBigUint64(o + off.atomicAckEth, a.origData, false)
  }
  if (mask & Mask.ATOMIC_ETH) {
    const a = p.atomicEth ?? missing(info, 'atomicEth')
    dv ??= new DataView(out.buffer, out.byteOffset, out.byteLength)
    const h = o + off.atomicEth
    dv.setBigUint64(h, a.va, false)
    put32(out, h + 8, a.rkey)
    dv.setBigUint64(h + 12, a.swapAdd, false)
    dv.setBigUint64(h + 20, a.compare, false)
  }
  if (mask & Mask.IMMDT) {
    if (p.immDt === undefined) missing(info, 'immDt')
    put32(out, o + off.immDt, p.immDt)
  }
  if (mask & Mask.IETH) {
    if (p.ieth === undefined) missing(info, 'ieth')
    put32(out, o + off.ieth, p.ieth)
  }
  if (plen > 0) out.set(payload, o + hlen)
  for (let i = o + hlen + plen, end = o + total; i < end; i++) out[i] = 0
  return total
}

function get32(b: Uint8Array, o: number): number {
  return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0
}

function get24(b: Uint8Array, o: number): number {
  return (b[o] << 16) | (b[o + 1] << 8) | b[o + 2]
}

/**
 * Decode one IBA packet (BTH first, no ICRC). Throws
 * EmuError(BAD_PACKET, ..., { reason }) for anything malformed.
 */
export function decodePacket(buf: Uint8Array): Packet {
  const n = buf.length
  if (n < HdrBytes.BTH) badPacket('short-header', `packet of ${n} bytes is shorter than a BTH`, { length: n })
  const opcode = buf[0]
  const info = opInfo(opcode)
  if (info === undefined) badPacket('unknown-opcode', `unknown opcode 0x${opcode.toString(16)}`, { opcode })
  const hlen = info.length
  if (n < hlen) badPacket('short-header', `${info.name} needs ${hlen} header bytes, got ${n}`, { opcode, length: n })

  const b1 = buf[1]
  const padCount = (b1 >>> 4) & 3
  const rest = n - hlen
  const mask = info.mask
  if (mask & Mask.PAYLOAD) {
    if ((rest & 3) !== 0) badPacket('bad-length', `padded payload of ${rest} bytes is not a multiple of 4`, { opcode, length: rest })
    if (padCount > rest) badPacket('bad-pad', `pad count ${padCount} exceeds padded payload of ${rest} bytes`, { opcode, padCount })
    checkPayloadLength(info, rest - padCount)
  } else {
    if (rest !== 0) badPacket('bad-length', `${info.name} carries no payload, got ${rest} bytes`, { opcode, length: rest })
    if (padCount !== 0) badPacket('bad-pad', `${info.name} has no payload but pad count ${padCount}`, { opcode, padCount })
  }

  const off = info.offset
  let dv: DataView | undefined
  let reth: Reth | undefined
  let aeth: AethHdr | undefined
  let atomicEth: AtomicEth | undefined
  let atomicAckEth: AtomicAckEth | undefined
  let immDt: number | undefined
  let ieth: number | undefined
  let feth: Feth | undefined
  if (mask & Mask.FETH) {
    const v = buf[off.feth + 3]
    feth = { sel: (v >>> 4) & 0x3, plt: v & 0xf }
  }
  if (mask & Mask.RETH) {
    dv = new DataView(buf.buffer, buf.byteOffset, n)
    const h = off.reth
    reth = { va: dv.getBigUint64(h, false), rkey: get32(buf, h + 8), len: get32(buf, h + 12) }
  }
  if (mask & Mask.AETH) {
    const h = off.aeth
    aeth = { syndrome: buf[h], msn: get24(buf, h + 1) }
  }
  if (mask & Mask.ATOMIC_ACK_ETH) {
    dv ??= new DataView(buf.buffer, buf.byteOffset, n)
    atomicAckEth = { origData: dv.getBigUint64(off.atomicAckEth, false) }
  }
  if (mask & Mask.ATOMIC_ETH) {
    dv ??= new DataView(buf.buffer, buf.byteOffset, n)
    const h = off.atomicEth
    atomicEth = {
      va: dv.getBigUint64(h, false),
      rkey: get32(buf, h + 8),
      swapAdd: dv.getBigUint64(h + 12, false),
      compare: dv.getBigUint64(h + 20, false),
    }
  }
  if (mask & Mask.IMMDT) immDt = get32(buf, off.immDt)
  if (mask & Mask.IETH) ieth = get32(buf, off.ieth)

  return {
    opcode,
    se: (b1 & 0x80) !== 0,
    mig: (b1 & 0x40) !== 0,
    padCount,
    tver: b1 & 0x0f,
    pkey: (buf[2] << 8) | buf[3],
    fecn: (buf[4] & 0x80) !== 0,
    becn: (buf[4] & 0x40) !== 0,
    destQp: get24(buf, 5),
    ackReq: (buf[8] & 0x80) !== 0,
    psn: get24(buf, 9),
    reth,
    aeth,
    atomicEth,
    atomicAckEth,
    immDt,
    ieth,
    feth,
    payload: buf.subarray(hlen, n - padCount),
  }
}
