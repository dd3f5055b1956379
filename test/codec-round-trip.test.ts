import t from 'tap'
import { decodePacket, encodedLength, encodePacket, encodePacketInto, MAX_PAYLOAD, psnAdd, psnDiff, type Packet, type PacketInit } from '../fabric/codec.ts'
import { ALL_OPCODES, ATOMIC_WRITE_PAYLOAD, HdrBytes, Mask, Op, opInfo } from '../src/engine/opcodes.ts'

function payloadSizes(opcode: number): number[] {
  const info = opInfo(opcode)!
  if (!(info.mask & Mask.PAYLOAD)) return [0]
  if (opcode === Op.ATOMIC_WRITE) return [ATOMIC_WRITE_PAYLOAD]
  return [0, 1, 3, 4, MAX_PAYLOAD]
}

function pattern(len: number, seed: number): Uint8Array {
  const b = new Uint8Array(len)
  for (let i = 0; i < len; i++) b[i] = (i * 31 + seed) & 0xff
  return b
}

/** The headers this opcode carries, filled with edge values; the rest left out. */
function initFor(opcode: number, payloadLen: number, variant: number): PacketInit {
  const m = opInfo(opcode)!.mask
  const hi = variant % 2 === 1
  const p: PacketInit = {
    opcode,
    destQp: hi ? 0xffffff : 0x000123,
    psn: hi ? 0xffffff : 0,
    se: hi,
    mig: !hi,
    tver: hi ? 0xf : 0,
    pkey: hi ? 0x7fff : 0xffff,
    fecn: hi,
    becn: !hi,
    ackReq: hi,
    payload: pattern(payloadLen, opcode + variant),
  }
  if (m & Mask.RETH) p.reth = { va: hi ? 0xffff_ffff_ffff_ffffn : 0x1000n, rkey: hi ? 0xffffffff : 0x1234, len: hi ? 0x80000000 : payloadLen }
  if (m & Mask.AETH) p.aeth = { syndrome: hi ? 0x63 : 0x1f, msn: hi ? 0xffffff : 7 }
  if (m & Mask.ATOMIC_ETH) p.atomicEth = { va: 0x8000_0000_0000_0008n, rkey: 0xdeadbeef, swapAdd: hi ? 0xffff_ffff_ffff_ffffn : 1n, compare: 0x0123_4567_89ab_cdefn }
  if (m & Mask.ATOMIC_ACK_ETH) p.atomicAckEth = { origData: hi ? 0xffff_ffff_ffff_ffffn : 42n }
  if (m & Mask.IMMDT) p.immDt = hi ? 0xffffffff : 0x01020304
  if (m & Mask.IETH) p.ieth = hi ? 0xfedcba98 : 0x11
  if (m & Mask.FETH) p.feth = { sel: hi ? 3 : 1, plt: hi ? 0xf : 2 }
  return p
}

type Asserts = Pick<typeof t, 'equal' | 'ok' | 'strictSame'>

function expectSame(t: Asserts, got: Packet, want: PacketInit, label: string): void {
  const info = opInfo(want.opcode)!
  const len = want.payload?.length ?? 0
  t.equal(got.opcode, want.opcode, `${label} opcode`)
  t.equal(got.se, !!want.se, `${label} se`)
  t.equal(got.mig, !!want.mig, `${label} mig`)
  t.equal(got.tver, want.tver, `${label} tver`)
  t.equal(got.pkey, want.pkey, `${label} pkey`)
  t.equal(got.fecn, !!want.fecn, `${label} fecn`)
  t.equal(got.becn, !!want.becn, `${label} becn`)
  t.equal(got.destQp, want.destQp, `${label} destQp`)
  t.equal(got.ackReq, !!want.ackReq, `${label} ackReq`)
  t.equal(got.psn, want.psn, `${label} psn`)
  t.equal(got.padCount, (4 - (len % 4)) % 4, `${label} padCount`)
  t.strictSame(got.reth, want.reth, `${label} reth`)
  t.strictSame(got.aeth, want.aeth, `${label} aeth`)
  t.strictSame(got.atomicEth, want.atomicEth, `${label} atomicEth`)
  t.strictSame(got.atomicAckEth, want.atomicAckEth, `${label} atomicAckEth`)
  t.equal(got.immDt, want.immDt, `${label} immDt`)
  t.equal(got.ieth, want.ieth, `${label} ieth`)
  t.strictSame(got.feth, want.feth, `${label} feth`)
  t.equal(got.payload.length, len, `${label} payload length`)
  t.ok(Buffer.from(got.payload).equals(Buffer.from(want.payload ?? new Uint8Array(0))), `${label} payload bytes (${info.name})`)
}

t.test('codec - every opcode in the table round-trips with every payload size', async (t) => {
  t.equal(ALL_OPCODES.length, 25, 'the table holds the 25 RC opcodes')
  for (const opcode of ALL_OPCODES) {
    const info = opInfo(opcode)!
    for (const size of payloadSizes(opcode)) {
      for (const variant of [0, 1]) {
        const label = `${info.name}/${size}/${variant}`
        const init = initFor(opcode, size, variant)
        const wire = encodePacket(init)
        t.equal(wire.length, encodedLength(init), `${label} encodedLength`)
        t.equal(wire.length % 4, 0, `${label} is 4-byte aligned`)
        t.equal(wire.length, info.length + size + ((4 - (size % 4)) % 4), `${label} header length from the table`)
        const got = decodePacket(wire)
        expectSame(t, got, init, label)
        t.equal(got.payload.buffer, wire.buffer, `${label} payload is a view into the input`)
      }
    }
  }
})

t.test('codec - encodePacketInto writes at an offset inside a larger buffer', async (t) => {
  const out = new Uint8Array(8192).fill(0xee)
  let off = 5
  const written: Array<[number, PacketInit]> = []
  for (const opcode of ALL_OPCODES) {
    const init = initFor(opcode, opcode === Op.ATOMIC_WRITE ? 8 : opInfo(opcode)!.mask & Mask.PAYLOAD ? 13 : 0, 1)
    const n = encodePacketInto(init, out, off)
    t.equal(n, encodedLength(init), `${opInfo(opcode)!.name} returns the bytes written`)
    written.push([off, init])
    off += n
  }
  t.equal(out[4], 0xee, 'byte before the first packet untouched')
  t.equal(out[off], 0xee, 'byte after the last packet untouched')
  for (let i = 0; i < written.length; i++) {
    const [start, init] = written[i]
    const end = i + 1 < written.length ? written[i + 1][0] : off
    expectSame(t, decodePacket(out.subarray(start, end)), init, `${opInfo(init.opcode)!.name}@${start}`)
  }
})

t.test('codec - header offsets match rxe_opcode.c', async (t) => {
  const B = HdrBytes.BTH
  t.equal(opInfo(Op.RDMA_WRITE_ONLY_WITH_IMMEDIATE)!.offset.reth, B)
  t.equal(opInfo(Op.RDMA_WRITE_ONLY_WITH_IMMEDIATE)!.offset.immDt, B + HdrBytes.RETH)
  t.equal(opInfo(Op.RDMA_WRITE_ONLY_WITH_IMMEDIATE)!.length, 32)
  t.equal(opInfo(Op.ATOMIC_ACKNOWLEDGE)!.offset.aeth, B)
  t.equal(opInfo(Op.ATOMIC_ACKNOWLEDGE)!.offset.atomicAckEth, B + HdrBytes.AETH)
  t.equal(opInfo(Op.ATOMIC_ACKNOWLEDGE)!.length, 24)
  t.equal(opInfo(Op.COMPARE_SWAP)!.length, 40)
  t.equal(opInfo(Op.FLUSH)!.offset.feth, B, 'FLUSH: FETH first')
  t.equal(opInfo(Op.FLUSH)!.offset.reth, B + HdrBytes.FETH, 'FLUSH: then RETH')
  t.equal(opInfo(Op.FLUSH)!.length, 32)
  t.equal(opInfo(Op.ATOMIC_WRITE)!.length, 28)
  t.equal(opInfo(Op.SEND_ONLY_WITH_INVALIDATE)!.offset.ieth, B)
  t.equal(opInfo(Op.RDMA_READ_RESPONSE_MIDDLE)!.length, B)
  t.ok(opInfo(Op.SEND_ONLY)!.mask & Mask.ONLY)
  t.ok(opInfo(Op.SEND_FIRST)!.mask & Mask.FIRST)
  t.ok(opInfo(Op.RDMA_WRITE_MIDDLE)!.mask & Mask.MIDDLE)
  t.ok(opInfo(Op.RDMA_READ_RESPONSE_LAST)!.mask & Mask.LAST)
  t.equal(opInfo(0x15), undefined, '0x15 (RESYNC) is not in the table')
  t.equal(opInfo(0x64), undefined, 'UD opcodes are not in the table')
})

t.test('codec - PSNs round-trip across the 24-bit wrap', async (t) => {
  const base = 0xfffff0
  for (let i = -20; i <= 40; i++) {
    const psn = psnAdd(base, i)
    t.ok(psn >= 0 && psn <= 0xffffff, `psnAdd(${base}, ${i}) stays 24-bit`)
    const got = decodePacket(encodePacket({ opcode: Op.ACKNOWLEDGE, destQp: 1, psn, aeth: { syndrome: 0, msn: psn } }))
    t.equal(psnDiff(got.psn, base), i, `psnDiff recovers ${i}`)
    t.equal(got.aeth?.msn, psn)
  }
  t.equal(psnDiff(0, 0x800000), -0x800000, 'half-way is negative')
  t.equal(psnDiff(0x7fffff, 0), 0x7fffff)
  t.equal(psnDiff(0, 1), -1)
  t.equal(psnAdd(0, -1), 0xffffff)
})
