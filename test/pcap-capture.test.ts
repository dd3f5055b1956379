import t from 'tap'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { decodePacket, encodePacket, type PacketInit } from '../fabric/codec.ts'
import { icrcIpv4, readIcrc } from '../fabric/icrc.ts'
import { ipv4Checksum, PcapWriter, ROCE_V2_PORT } from '../fabric/pcap.ts'
import { ALL_OPCODES, ATOMIC_WRITE_PAYLOAD, Mask, Op, opInfo } from '../src/engine/opcodes.ts'

interface Sent { opcode: number; iba: Uint8Array; src: number; dst: number; tsMs: number }

function initFor(opcode: number, payloadLen: number, psn: number): PacketInit {
  const m = opInfo(opcode)!.mask
  return {
    opcode, destQp: 0x11 + opcode, psn, ackReq: (m & Mask.END) !== 0,
    reth: m & Mask.RETH ? { va: 0x7f00_0000_1000n, rkey: 0x1234, len: payloadLen } : undefined,
    aeth: m & Mask.AETH ? { syndrome: 0x1f, msn: psn } : undefined,
    atomicEth: m & Mask.ATOMIC_ETH ? { va: 0x2000n, rkey: 0x99, swapAdd: 5n, compare: 7n } : undefined,
    atomicAckEth: m & Mask.ATOMIC_ACK_ETH ? { origData: 0x0102030405060708n } : undefined,
    immDt: m & Mask.IMMDT ? 0xcafef00d : undefined,
    ieth: m & Mask.IETH ? 0x4242 : undefined,
    feth: m & Mask.FETH ? { sel: 1, plt: 1 } : undefined,
    payload: new Uint8Array(payloadLen).fill(0x5a),
  }
}

/** Every opcode, with zero and non-zero payloads where the opcode allows them, between a few node pairs. */
function traffic(): Sent[] {
  const pairs: Array<[number, number]> = [[0, 1], [1, 0], [300, 2]]
  const out: Sent[] = []
  let psn = 0
  for (const opcode of ALL_OPCODES) {
    const m = opInfo(opcode)!.mask
    const sizes = opcode === Op.ATOMIC_WRITE ? [ATOMIC_WRITE_PAYLOAD] : m & Mask.PAYLOAD ? [0, 37, 1024] : [0]
    for (const size of sizes) {
      const [src, dst] = pairs[out.length % pairs.length]
      out.push({ opcode, iba: encodePacket(initFor(opcode, size, psn++)), src, dst, tsMs: 1_700_000_000_000 + out.length * 1.5 })
    }
  }
  return out
}

function ipOf(node: number): number[] {
  const v = node + 1
  return [127, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff]
}

t.test('pcap - capture of every opcode parses back as Ethernet/IPv4/UDP 4791/IBA/ICRC', async (t) => {
  const dir = t.testdir({})
  const file = join(dir, 'every-opcode.pcap')
  const sent = traffic()
  const w = PcapWriter.open(file, { bufferBytes: 4096 }) // small buffer: exercises mid-capture flushes
  for (const s of sent) w.write(s.iba, s.src, s.dst, s.tsMs)
  await w.close()
  await w.close() // idempotent
  w.write(sent[0].iba, 0, 1) // ignored after close

  const b = readFileSync(file)
  t.equal(b.readUInt32LE(0), 0xa1b2c3d4, 'magic (microsecond pcap, little-endian)')
  t.equal(b.readUInt16LE(4), 2, 'major version')
  t.equal(b.readUInt16LE(6), 4, 'minor version')
  t.ok(b.readUInt32LE(16) >= 65535, 'snaplen')
  t.equal(b.readUInt32LE(20), 1, 'linktype Ethernet')

  let o = 24
  let i = 0
  for (; o < b.length; i++) {
    const s = sent[i]
    const name = opInfo(s.opcode)!.name
    const sec = b.readUInt32LE(o)
    const usec = b.readUInt32LE(o + 4)
    const incl = b.readUInt32LE(o + 8)
    const orig = b.readUInt32LE(o + 12)
    o += 16
    const f = b.subarray(o, o + incl)
    o += incl
    t.equal(sec * 1000 + usec / 1000, s.tsMs, `${name}: timestamp`)
    t.equal(incl, orig, `${name}: not truncated`)
    t.equal(incl, 14 + 20 + 8 + s.iba.length + 4, `${name}: record length`)
    t.equal(f.readUInt16BE(12), 0x0800, `${name}: ethertype IPv4`)
    t.equal(f[0] & 0x03, 0x02, `${name}: dst MAC locally administered unicast`)
    t.equal(f[14], 0x45, `${name}: IPv4, IHL 5`)
    t.equal(f.readUInt16BE(16), 20 + 8 + s.iba.length + 4, `${name}: IPv4 total length`)
    t.equal(f.readUInt16BE(20), 0x4000, `${name}: DF, no fragment offset`)
    t.equal(f[22], 64, `${name}: TTL`)
    t.equal(f[23], 17, `${name}: protocol UDP`)
    t.equal(ipv4Checksum(f, 14), 0, `${name}: IPv4 header checksum verifies`)
    t.same([...f.subarray(26, 30)], ipOf(s.src), `${name}: source IP`)
    t.same([...f.subarray(30, 34)], ipOf(s.dst), `${name}: destination IP`)
    t.equal(f.readUInt16BE(36), ROCE_V2_PORT, `${name}: UDP dst port 4791`)
    t.equal(f.readUInt16BE(38), 8 + s.iba.length + 4, `${name}: UDP length`)
    t.equal(f.readUInt16BE(40), 0, `${name}: UDP checksum 0`)
    const iba = f.subarray(42, 42 + s.iba.length)
    t.ok(Buffer.from(iba).equals(Buffer.from(s.iba)), `${name}: IBA bytes`)
    t.equal(decodePacket(iba).opcode, s.opcode, `${name}: decodes`)
    t.equal(readIcrc(f, f.length - 4), icrcIpv4(f, 14, s.iba.length), `${name}: ICRC`)
  }
  t.equal(i, sent.length, 'one record per packet')
  t.equal(o, b.length, 'no trailing bytes')

  const probe = spawnSync('tshark', ['--version'], { encoding: 'utf8' })
  const skip = probe.error || probe.status !== 0 ? 'tshark not on PATH' : false
  t.test('tshark decodes every frame with the right opcode and no malformed packets', { skip }, async (t) => {
    // Upper-layer protocols that Wireshark guesses from IB payload bytes are
    // turned off: the payload is opaque application data here. (Wireshark
    // 4.0's RPC-over-RDMA heuristic also throws on any zero-length SEND,
    // which IBTA allows and rxe sends.) Unknown names are ignored by tshark.
    const disabled = ['rpcordma', 'smb_direct', 'nvme-rdma', 'iser', 'smc', 'lnet', 'infiniband_sdp', 'fcoib', 'drbd']
    const r = spawnSync('tshark', [
      ...disabled.flatMap((p) => ['--disable-protocol', p]),
      '-r', file, '-o', 'ip.check_checksum:TRUE', '-T', 'fields', '-E', 'separator=|', '-E', 'occurrence=a',
      '-e', 'frame.number', '-e', 'udp.dstport', '-e', 'infiniband.bth.opcode', '-e', 'ip.checksum.status',
      '-e', '_ws.malformed', '-e', '_ws.expert.severity',
    ], { encoding: 'utf8', maxBuffer: 64 << 20 })
    t.equal(r.status, 0, `tshark exit status (stderr: ${r.stderr.trim().slice(0, 200)})`)
    const rows = r.stdout.trim().split('\n').map((l) => l.split('|'))
    t.equal(rows.length, sent.length, 'tshark sees every frame')
    rows.forEach(([num, port, opcode, ipCsum, malformed, severity], k) => {
      const name = opInfo(sent[k].opcode)!.name
      t.equal(Number(num), k + 1, `${name}: frame number`)
      t.equal(Number(port), ROCE_V2_PORT, `${name}: dissected as RoCEv2`)
      t.equal(Number(opcode), sent[k].opcode, `${name}: infiniband.bth.opcode`)
      t.equal(ipCsum, '1', `${name}: Wireshark verifies the IPv4 checksum`)
      t.equal(malformed, '', `${name}: not malformed`)
      const worst = Math.max(0, ...severity.split(',').filter(Boolean).map(Number))
      t.ok(worst < 0x600000, `${name}: no warning or error expert info`)
    })
  })
})
