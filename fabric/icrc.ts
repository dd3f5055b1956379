/**
 * RoCEv2 invariant CRC (IBTA 1.5 annex A17.3.3), computed the way rxe does
 * (drivers/infiniband/sw/rxe/rxe_icrc.c):
 *
 *   crc = crc32_le(0xdebb20e3, IPv4 hdr | UDP hdr | BTH)  with variant fields masked
 *   crc = crc32_le(crc, rest of the IBA headers | payload | pad)
 *   icrc = ~crc, stored little-endian after the pad
 *
 * crc32_le is the reflected CRC-32 (poly 0xEDB88320) with no pre- or
 * post-inversion. The seed 0xdebb20e3 is what crc32_le(0xffffffff, ...) leaves
 * after 8 bytes of 0xff (the masked LRH of native IB), so the ICRC equals the
 * ordinary zlib/Ethernet CRC-32 of (8 x 0xff | masked headers | rest).
 *
 * Masked to all ones: IPv4 TOS, TTL and header checksum; UDP checksum; BTH
 * byte 4 (resv8a, carrying FECN/BECN).
 *
 * Byte order: rxe writes `~crc` as a host u32 through a __be32 cast, so on the
 * little-endian hosts rxe runs on the four bytes are the CRC value
 * little-endian, the usual CRC-32 residue convention, and what hardware RNICs
 * put on the wire. Wireshark's infiniband dissector shows the field as a
 * big-endian u32 and does not verify it.
 */

import * as zlib from 'node:zlib'

/** rxe's ICRC seed: crc32_le(0xffffffff, 8 x 0xff). */
export const ICRC_SEED = 0xdebb20e3
/** ICRC size in bytes (RXE_ICRC_SIZE). */
export const ICRC_SIZE = 4
/** IPv4 header (no options) + UDP header: what precedes the BTH in the pseudo-header. */
export const IPV4_UDP_BYTES = 28
const BTH_BYTES = 12

const TABLE = (() => {
  const t = new Int32Array(256)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
    t[n] = c
  }
  return t
})()

/**
 * Linux crc32_le: continue the reflected CRC-32 `crc` over buf[start, end).
 * No inversion on input or output. Returns an unsigned 32-bit value.
 */
export function crc32Update(crc: number, buf: Uint8Array, start = 0, end = buf.length): number {
  let c = crc | 0
  for (let i = start; i < end; i++) c = TABLE[(c ^ buf[i]) & 0xff] ^ (c >>> 8)
  return c >>> 0
}

// Scratch for the masked pseudo-header; reused so the hot path does not allocate.
const pseudo = new Uint8Array(IPV4_UDP_BYTES + BTH_BYTES)

/** Mask the variant fields of the pseudo-header in `pseudo` and return its partial CRC. */
function maskedHeaderCrc(): number {
  pseudo[1] = 0xff // IPv4 TOS
  pseudo[8] = 0xff // IPv4 TTL
  pseudo[10] = 0xff // IPv4 header checksum
  pseudo[11] = 0xff
  pseudo[26] = 0xff // UDP checksum
  pseudo[27] = 0xff
  pseudo[IPV4_UDP_BYTES + 4] = 0xff // BTH resv8a (FECN, BECN)
  return crc32Update(ICRC_SEED, pseudo, 0, pseudo.length)
}

/**
 * ICRC of a RoCEv2-over-IPv4 packet laid out contiguously in `buf`: a 20-byte
 * IPv4 header at `ipOffset`, then the UDP header, then `ibaLength` bytes of
 * IBA packet (BTH .. pad, without the ICRC). Returns the value to store; write
 * it with writeIcrc.
 */
export function icrcIpv4(buf: Uint8Array, ipOffset: number, ibaLength: number): number {
  const ibaOffset = ipOffset + IPV4_UDP_BYTES
  if (ibaLength < BTH_BYTES || ibaOffset + ibaLength > buf.length) {
    throw new RangeError(`icrcIpv4: need ${IPV4_UDP_BYTES + ibaLength} bytes at ${ipOffset}, have ${buf.length - ipOffset}`)
  }
  pseudo.set(buf.subarray(ipOffset, ibaOffset + BTH_BYTES))
  return ~crc32Update(maskedHeaderCrc(), buf, ibaOffset + BTH_BYTES, ibaOffset + ibaLength) >>> 0
}

/**
 * ICRC of an IBA packet (BTH .. pad) given separately from the 28-byte
 * IPv4 + UDP header that carries it.
 */
export function icrcOf(ipv4Udp: Uint8Array, iba: Uint8Array): number {
  if (ipv4Udp.length !== IPV4_UDP_BYTES) throw new RangeError(`icrcOf: IPv4+UDP header must be ${IPV4_UDP_BYTES} bytes`)
  if (iba.length < BTH_BYTES) throw new RangeError('icrcOf: IBA packet shorter than a BTH')
  pseudo.set(ipv4Udp)
  pseudo.set(iba.subarray(0, BTH_BYTES), IPV4_UDP_BYTES)
  return ~crc32Update(maskedHeaderCrc(), iba, BTH_BYTES, iba.length) >>> 0
}

/** Store an ICRC as rxe does on a little-endian host: least significant byte first. */
export function writeIcrc(out: Uint8Array, offset: number, icrc: number): void {
  out[offset] = icrc
  out[offset + 1] = icrc >>> 8
  out[offset + 2] = icrc >>> 16
  out[offset + 3] = icrc >>> 24
}

/** Read an ICRC stored by writeIcrc. */
export function readIcrc(buf: Uint8Array, offset: number): number {
  return (buf[offset] | (buf[offset + 1] << 8) | (buf[offset + 2] << 16) | (buf[offset + 3] << 24)) >>> 0
}

// The IPv4 + UDP header the fabric's ICRC is computed under (fabricIcrc).
const fabricHeader = new Uint8Array(IPV4_UDP_BYTES)
fabricHeader[0] = 0x45
fabricHeader[6] = 0x40 // DF
fabricHeader[8] = 64 // TTL
fabricHeader[9] = 17 // UDP
fabricHeader[22] = 4791 >>> 8 // UDP destination port (RoCEv2)
fabricHeader[23] = 4791 & 0xff

/** zlib's CRC-32 (Node >= 20.15), when there: native, many times faster than the table loop. */
const zlibCrc32 = (zlib as { crc32?: (data: Uint8Array, value?: number) => number }).crc32
// 8 x 0xff then the masked IPv4 + UDP + BTH: the prefix whose plain CRC-32 continues into the packet.
const zlibPrefix = new Uint8Array(8 + IPV4_UDP_BYTES + BTH_BYTES).fill(0xff, 0, 8)

/**
 * The ICRC an emulated packet carries on the fabric when its link corrupts
 * packets (fabric/netem.ts): the packet's RoCEv2 ICRC under a fixed IPv4 +
 * UDP header (addresses 0.0.0.0, port 4791, the lengths of this packet),
 * since the fabric has no IP addresses. The receiver recomputes it the same
 * way; captures compute the real one under their own headers (fabric/pcap.ts).
 * With zlib.crc32 it is the plain CRC-32 of (8 x 0xff | masked headers |
 * rest), see the file comment; the same value as icrcOf.
 */
export function fabricIcrc(iba: Uint8Array): number {
  const ipLen = IPV4_UDP_BYTES + iba.length + ICRC_SIZE
  fabricHeader[2] = ipLen >>> 8
  fabricHeader[3] = ipLen
  fabricHeader[24] = (ipLen - 20) >>> 8
  fabricHeader[25] = ipLen - 20
  if (!zlibCrc32 || iba.length < BTH_BYTES) return icrcOf(fabricHeader, iba)
  zlibPrefix.set(fabricHeader, 8)
  zlibPrefix.set(iba.subarray(0, BTH_BYTES), 8 + IPV4_UDP_BYTES)
  const h = 8
  zlibPrefix[h + 1] = 0xff // IPv4 TOS
  zlibPrefix[h + 8] = 0xff // TTL
  zlibPrefix[h + 10] = 0xff // header checksum
  zlibPrefix[h + 11] = 0xff
  zlibPrefix[h + 26] = 0xff // UDP checksum
  zlibPrefix[h + 27] = 0xff
  zlibPrefix[h + IPV4_UDP_BYTES + 4] = 0xff // BTH resv8a
  return zlibCrc32(iba.subarray(BTH_BYTES), zlibCrc32(zlibPrefix)) >>> 0
}
