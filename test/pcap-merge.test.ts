import t from 'tap'
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { encodePacket } from '../fabric/codec.ts'
import { mergePcapFiles, PcapWriter } from '../fabric/pcap.ts'
import { ErrorCodes } from '../src/errors.ts'
import { Op } from '../src/engine/opcodes.ts'

/** Timestamps (ms) of the records of a capture, in file order. */
function stamps(file: string): number[] {
  const b = readFileSync(file)
  const out: number[] = []
  for (let o = 24; o + 16 <= b.length; o += 16 + b.readUInt32LE(o + 8)) out.push(b.readUInt32LE(o) * 1000 + b.readUInt32LE(o + 4) / 1000)
  return out
}

t.test('pcap - merging node captures keeps time order, skips a torn last record and a missing file', async (t) => {
  const dir = t.testdir()
  const pkt = encodePacket({ opcode: Op.ACKNOWLEDGE, destQp: 1, psn: 1, aeth: { syndrome: 0, msn: 1 } })
  const base = 1_700_000_000_000
  const a = PcapWriter.open(join(dir, 'a.pcap'))
  const b = PcapWriter.open(join(dir, 'b.pcap'))
  for (const ms of [1, 4, 5, 9]) a.write(pkt, 0, 1, base + ms)
  for (const ms of [2, 3, 6, 10]) b.write(pkt, 1, 0, base + ms)
  await a.close()
  await b.close()
  // A node killed mid-write leaves half a record behind.
  appendFileSync(join(dir, 'b.pcap'), Buffer.from([1, 2, 3, 4, 5, 6, 7, 8, 200, 0, 0, 0, 200, 0, 0, 0, 9]))
  const n = mergePcapFiles([join(dir, 'a.pcap'), join(dir, 'b.pcap'), join(dir, 'never-started.pcap')], join(dir, 'all.pcap'))
  t.equal(n, 8, 'every whole record')
  t.same(stamps(join(dir, 'all.pcap')).map((ms) => Math.round(ms - base)), [1, 2, 3, 4, 5, 6, 9, 10], 'in timestamp order')
})

t.test('pcap - a file that is not a capture is named in the error', async (t) => {
  const dir = t.testdir()
  writeFileSync(join(dir, 'junk.pcap'), 'not a capture at all')
  t.throws(() => mergePcapFiles([join(dir, 'junk.pcap')], join(dir, 'out.pcap')), { code: ErrorCodes.BAD_PACKET, message: /junk\.pcap: not a little-endian microsecond pcap/ })
})
