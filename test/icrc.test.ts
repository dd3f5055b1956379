import t from 'tap'
import * as zlib from 'node:zlib'
import { encodePacket } from '../fabric/codec.ts'
import { crc32Update, ICRC_SEED, icrcIpv4, icrcOf, readIcrc, writeIcrc } from '../fabric/icrc.ts'
import { Op } from '../src/engine/opcodes.ts'

/** Independent reference: bit-at-a-time reflected CRC-32 with zlib conventions (init and final inversion). */
function crc32Reference(data: Uint8Array): number {
  let c = 0xffffffff
  for (const byte of data) {
    c ^= byte
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1
  }
  return ~c >>> 0
}

/**
 * IBTA definition of the RoCEv2 ICRC: the CRC-32 of 8 bytes of 0xff (the
 * masked LRH of native IB) followed by the headers with their variant fields
 * masked and the rest of the packet.
 */
function icrcReference(ipv4Udp: Uint8Array, iba: Uint8Array): number {
  const all = new Uint8Array(8 + ipv4Udp.length + iba.length)
  all.fill(0xff, 0, 8)
  all.set(ipv4Udp, 8)
  all.set(iba, 8 + ipv4Udp.length)
  const m = (i: number) => { all[8 + i] = 0xff }
  m(1); m(8); m(10); m(11) // IPv4 TOS, TTL, checksum
  m(26); m(27) // UDP checksum
  m(28 + 4) // BTH resv8a (FECN/BECN)
  return crc32Reference(all)
}

function ipv4Udp(ibaLen: number, tos = 0, ttl = 64, csum = 0x1234, udpCsum = 0): Uint8Array {
  const h = new Uint8Array(28)
  const dv = new DataView(h.buffer)
  h[0] = 0x45
  h[1] = tos
  dv.setUint16(2, 28 + ibaLen + 4)
  dv.setUint16(4, 0x0478)
  dv.setUint16(6, 0x4000)
  h[8] = ttl
  h[9] = 17
  dv.setUint16(10, csum)
  h.set([192, 168, 0, 7], 12)
  h.set([192, 168, 0, 8], 16)
  dv.setUint16(20, 49152)
  dv.setUint16(22, 4791)
  dv.setUint16(24, 8 + ibaLen + 4)
  dv.setUint16(26, udpCsum)
  return h
}

t.test('icrc - CRC-32 core matches the standard check value', async (t) => {
  const check = new TextEncoder().encode('123456789')
  t.equal(~crc32Update(0xffffffff, check) >>> 0, 0xcbf43926)
  t.equal(crc32Reference(check), 0xcbf43926)
  t.equal(crc32Update(0xffffffff, new Uint8Array(8).fill(0xff)), ICRC_SEED, 'the rxe seed is the CRC of 8 x 0xff (masked LRH)')
})

t.test('icrc - a built RoCEv2 packet matches the bitwise IBTA reference', async (t) => {
  const payload = new Uint8Array(37).map((_, i) => i * 7)
  const iba = encodePacket({ opcode: Op.RDMA_WRITE_ONLY, destQp: 0x11, psn: 0x123456, ackReq: true, becn: true,
    reth: { va: 0x7f00_dead_beefn, rkey: 0xabcd, len: 37 }, payload })
  const hdr = ipv4Udp(iba.length)
  const want = icrcReference(hdr, iba)
  t.equal(icrcOf(hdr, iba), want, 'icrcOf')

  const frame = new Uint8Array(14 + 28 + iba.length + 4)
  frame.set(hdr, 14)
  frame.set(iba, 42)
  t.equal(icrcIpv4(frame, 14, iba.length), want, 'icrcIpv4 over a contiguous frame')
  writeIcrc(frame, 42 + iba.length, want)
  t.same([...frame.subarray(-4)], [want & 0xff, (want >>> 8) & 0xff, (want >>> 16) & 0xff, want >>> 24], 'stored least significant byte first')
  t.equal(readIcrc(frame, 42 + iba.length), want)

  const zcrc = (zlib as { crc32?: (d: Uint8Array) => number }).crc32
  if (typeof zcrc === 'function') {
    const all = new Uint8Array(8 + 28 + iba.length).fill(0xff, 0, 8)
    all.set(hdr, 8)
    all.set(iba, 36)
    for (const i of [1, 8, 10, 11, 26, 27, 32]) all[8 + i] = 0xff
    t.equal(zcrc(all) >>> 0, want, 'zlib.crc32 agrees')
  }
})

t.test('icrc - variant fields do not change it, invariant fields do', async (t) => {
  const iba = encodePacket({ opcode: Op.SEND_ONLY, destQp: 7, psn: 9, payload: new Uint8Array(8) })
  const base = icrcOf(ipv4Udp(iba.length), iba)
  t.equal(icrcOf(ipv4Udp(iba.length, 0xb8, 3, 0xbeef, 0x5555), iba), base, 'TOS, TTL, IP and UDP checksums are masked')
  const congested = iba.slice()
  congested[4] = 0xc0
  t.equal(icrcOf(ipv4Udp(iba.length), congested), base, 'FECN/BECN are masked')
  const otherPsn = iba.slice()
  otherPsn[11] ^= 1
  t.not(icrcOf(ipv4Udp(iba.length), otherPsn), base, 'PSN is covered')
  const otherPayload = iba.slice()
  otherPayload[iba.length - 1] ^= 0x80
  t.not(icrcOf(ipv4Udp(iba.length), otherPayload), base, 'payload is covered')
})

t.test('icrc - reproduces a ConnectX-4 Lx capture byte for byte', async (t) => {
  // A RoCEv2 CNP (opcode 0x81, BECN set, TOS 0xc2) captured on a ConnectX-4 Lx,
  // as published in scapy's test/contrib/roce.uts. The last 4 bytes are the
  // ICRC the NIC put on the wire.
  const frame = Buffer.from(
    'e41d2dab2bc27cfe90643b32080045c2003c718c400040119161' +
    '0a0011010a0012010000' + '12b700280000' +
    '8100ffff400001180000000000000000000000000000000000000000' + '82fd002a',
    'hex',
  )
  const ibaLen = frame.length - 14 - 28 - 4
  const icrc = icrcIpv4(frame, 14, ibaLen)
  t.equal(icrc, readIcrc(frame, frame.length - 4), 'matches the hardware ICRC')
  t.same([...frame.subarray(-4)], [0x82, 0xfd, 0x00, 0x2a], 'wire byte order: value 0x2a00fd82 little-endian')
  t.equal(icrc, icrcReference(frame.subarray(14, 42), frame.subarray(42, 42 + ibaLen)), 'and the bitwise reference')
})
