import t from 'tap'
import { decodePacket, encodePacket, MAX_PAYLOAD, type PacketInit } from '../fabric/codec.ts'
import { ALL_OPCODES, HdrBytes, Op, opInfo } from '../src/engine/opcodes.ts'
import { EmuError, ErrorCodes } from '../src/errors.ts'
import { seededRandom } from '../fabric/faults.ts'

const REASONS = new Set(['short-header', 'unknown-opcode', 'bad-pad', 'bad-length'])

function bad(reason: string) {
  return { code: ErrorCodes.BAD_PACKET, details: { reason } }
}

/** A BTH for `opcode` with the given pad count, followed by `rest` zero bytes. */
function raw(opcode: number, rest: number, padCount = 0): Uint8Array {
  const b = new Uint8Array(HdrBytes.BTH + rest)
  b[0] = opcode
  b[1] = padCount << 4
  b[2] = 0xff
  b[3] = 0xff
  return b
}

t.test('codec - buffers shorter than a BTH are short-header', async (t) => {
  for (let n = 0; n < HdrBytes.BTH; n++) {
    t.throws(() => decodePacket(new Uint8Array(n).fill(0x04)), bad('short-header'), `${n} bytes`)
  }
})

t.test('codec - opcodes outside the table are unknown-opcode', async (t) => {
  let n = 0
  for (let op = 0; op < 256; op++) {
    if (opInfo(op)) continue
    t.throws(() => decodePacket(raw(op, 64)), bad('unknown-opcode'), `opcode 0x${op.toString(16)}`)
    n++
  }
  t.equal(n, 256 - ALL_OPCODES.length)
})

t.test('codec - truncated extension headers are short-header', async (t) => {
  for (const op of ALL_OPCODES) {
    const info = opInfo(op)!
    for (let len = HdrBytes.BTH; len < info.length; len++) {
      t.throws(() => decodePacket(raw(op, len - HdrBytes.BTH)), bad('short-header'), `${info.name} cut at ${len}`)
    }
  }
})

t.test('codec - inconsistent pad counts are bad-pad', async (t) => {
  t.throws(() => decodePacket(raw(Op.SEND_ONLY, 0, 1)), bad('bad-pad'), 'pad on an empty payload')
  t.throws(() => decodePacket(raw(Op.RDMA_WRITE_MIDDLE, 0, 3)), bad('bad-pad'), 'pad 3, no payload bytes')
  const ack = encodePacket({ opcode: Op.ACKNOWLEDGE, destQp: 1, psn: 1, aeth: { syndrome: 0, msn: 0 } })
  ack[1] |= 0x20
  t.throws(() => decodePacket(ack), bad('bad-pad'), 'pad on an ACK')
  const read = encodePacket({ opcode: Op.RDMA_READ_REQUEST, destQp: 1, psn: 1, reth: { va: 0n, rkey: 1, len: 8 } })
  read[1] |= 0x10
  t.throws(() => decodePacket(read), bad('bad-pad'), 'pad on a READ request')
})

t.test('codec - payload sizes the opcode forbids are bad-length', async (t) => {
  t.throws(() => decodePacket(raw(Op.ACKNOWLEDGE, HdrBytes.AETH + 4)), bad('bad-length'), 'ACK with a payload')
  t.throws(() => decodePacket(raw(Op.ATOMIC_ACKNOWLEDGE, HdrBytes.AETH + HdrBytes.ATOMIC_ACK_ETH + 8)), bad('bad-length'), 'atomic ACK with a payload')
  t.throws(() => decodePacket(raw(Op.COMPARE_SWAP, HdrBytes.ATOMIC_ETH + 4)), bad('bad-length'), 'CMP_SWAP with a payload')
  t.throws(() => decodePacket(raw(Op.FETCH_ADD, HdrBytes.ATOMIC_ETH + 1)), bad('bad-length'), 'FETCH_ADD with a stray byte')
  t.throws(() => decodePacket(raw(Op.RDMA_READ_REQUEST, HdrBytes.RETH + 4)), bad('bad-length'), 'READ request with a payload')
  t.throws(() => decodePacket(raw(Op.FLUSH, HdrBytes.FETH + HdrBytes.RETH + 4)), bad('bad-length'), 'FLUSH with a payload')
  for (const n of [0, 4, 12, 16]) {
    t.throws(() => decodePacket(raw(Op.ATOMIC_WRITE, HdrBytes.RETH + n)), bad('bad-length'), `ATOMIC_WRITE with ${n} payload bytes`)
  }
  t.throws(() => decodePacket(raw(Op.SEND_ONLY, 13)), bad('bad-length'), 'payload not padded to 4 bytes')
  t.throws(() => decodePacket(raw(Op.SEND_ONLY, MAX_PAYLOAD + 4)), bad('bad-length'), 'payload above the largest MTU')
})

t.test('codec - encode refuses what decode would refuse', async (t) => {
  const base = { destQp: 1, psn: 0 }
  const reth = { va: 0n, rkey: 0, len: 0 }
  const cases: Array<[string, PacketInit, string]> = [
    ['unknown opcode', { ...base, opcode: 0x15 }, 'unknown-opcode'],
    ['ACK with payload', { ...base, opcode: Op.ACKNOWLEDGE, aeth: { syndrome: 0, msn: 0 }, payload: new Uint8Array(4) }, 'bad-length'],
    ['ATOMIC_WRITE with 4 bytes', { ...base, opcode: Op.ATOMIC_WRITE, reth, payload: new Uint8Array(4) }, 'bad-length'],
    ['payload above MTU', { ...base, opcode: Op.SEND_ONLY, payload: new Uint8Array(MAX_PAYLOAD + 1) }, 'bad-length'],
    ['WRITE_FIRST without RETH', { ...base, opcode: Op.RDMA_WRITE_FIRST }, 'missing-header'],
    ['SEND_ONLY_IMM without ImmDt', { ...base, opcode: Op.SEND_ONLY_WITH_IMMEDIATE }, 'missing-header'],
    ['FLUSH without FETH', { ...base, opcode: Op.FLUSH, reth }, 'missing-header'],
  ]
  for (const [name, init, reason] of cases) t.throws(() => encodePacket(init), bad(reason), name)
})

t.test('codec - random garbage decodes or throws BAD_PACKET, nothing else', async (t) => {
  // Seeded, so a failure is reproducible.
  const next = seededRandom(0xc0dec)
  const table = ALL_OPCODES
  let decoded = 0
  const reasons = new Map<string, number>()
  for (let i = 0; i < 5000; i++) {
    const len = Math.floor(next() * 96)
    const buf = new Uint8Array(len)
    for (let j = 0; j < len; j++) buf[j] = Math.floor(next() * 256)
    // Half the cases get a real opcode so the fuzz reaches past the opcode check.
    if (len > 0 && i % 2 === 0) buf[0] = table[Math.floor(next() * table.length)]
    try {
      const p = decodePacket(buf)
      decoded++
      if (p.payload.byteOffset + p.payload.length > buf.byteOffset + buf.length || p.payload.buffer !== buf.buffer) {
        t.fail(`payload escapes the input at case ${i}`)
      }
    } catch (err) {
      if (!(err instanceof EmuError) || err.code !== ErrorCodes.BAD_PACKET) {
        t.fail(`case ${i} threw something other than BAD_PACKET: ${String(err)}`)
        continue
      }
      const reason = (err.details as { reason?: string } | undefined)?.reason ?? 'none'
      if (!REASONS.has(reason)) t.fail(`case ${i}: unexpected reason ${reason}`)
      reasons.set(reason, (reasons.get(reason) ?? 0) + 1)
    }
  }
  t.ok(decoded > 0, `some garbage decodes (${decoded})`)
  for (const r of REASONS) t.ok((reasons.get(r) ?? 0) > 0, `fuzz reached ${r} (${reasons.get(r) ?? 0})`)
})
