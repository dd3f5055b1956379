import t from 'tap'
import { spawnSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { decodePacket } from '../fabric/codec.ts'
import { icrcIpv4, readIcrc } from '../fabric/icrc.ts'
import { ROCE_V2_PORT } from '../fabric/pcap.ts'
import { Op } from '../src/engine/opcodes.ts'
import { ONE_CLIENT_CONFIG, startBench } from './helpers/bench-run.ts'
import { runCli, tempDir } from './cluster-helpers.ts'

// `bench --pcap FILE`: every data-plane packet of the run, from every node,
// merged into one RoCEv2 capture in time order, each frame's ICRC right;
// the number of frames is what the nodes counted as sent.
t.test('pcap - bench --pcap captures every data-plane packet of the cluster in one file', async (t) => {
  const dir = tempDir(t)
  const file = join(dir, 'run.pcap')
  const iters = 40
  // Log level info: the nodes log their data-plane counters at close.
  const run = startBench(t, ['write_bw', '-s', '8192', '-n', String(iters), '--json', '--pcap', file], { ...ONE_CLIENT_CONFIG, logLevel: 'info' })
  const r = await run(t)
  t.equal(r.code, 0, `bench exits 0 (stderr: ${r.stderr.slice(0, 300)})`)
  const json = (JSON.parse(r.stdout) as { rdma_emu: { pcap: string; runDir: string } }).rdma_emu
  t.equal(json.pcap, file, 'JSON names the capture')

  const b = readFileSync(file)
  t.equal(b.readUInt32LE(0), 0xa1b2c3d4, 'pcap magic')
  const opcodes = new Map<number, number>()
  const sources = new Set<string>()
  let frames = 0
  let badIcrc = 0
  let notRoce = 0
  // A retransmission (a late ACK on a loaded machine) sends packets again: count PSNs, not frames.
  const firstPsns = new Set<number>()
  const lastPsns = new Set<number>()
  let lastTs = 0
  let ordered = true
  for (let o = 24; o < b.length; frames++) {
    const ts = b.readUInt32LE(o) * 1e6 + b.readUInt32LE(o + 4)
    if (ts < lastTs) ordered = false
    lastTs = ts
    const incl = b.readUInt32LE(o + 8)
    const f = b.subarray(o + 16, o + 16 + incl)
    o += 16 + incl
    if (f.readUInt16BE(12) !== 0x0800 || f[23] !== 17 || f.readUInt16BE(36) !== ROCE_V2_PORT) notRoce++
    const iba = f.subarray(42, f.length - 4)
    if (readIcrc(f, f.length - 4) !== icrcIpv4(f, 14, iba.length)) badIcrc++
    const pkt = decodePacket(iba)
    const op = pkt.opcode
    opcodes.set(op, (opcodes.get(op) ?? 0) + 1)
    if (op === Op.RDMA_WRITE_FIRST) firstPsns.add(pkt.psn)
    if (op === Op.RDMA_WRITE_LAST) lastPsns.add(pkt.psn)
    sources.add([...f.subarray(26, 30)].join('.'))
  }
  t.equal(notRoce, 0, 'every frame is IPv4/UDP to port 4791 (RoCEv2)')
  t.ok(ordered, 'records in time order across nodes')
  t.equal(badIcrc, 0, 'every ICRC verifies')
  // 8192 bytes at MTU 4096: a FIRST and a LAST packet per WRITE, from the client.
  t.equal(firstPsns.size, iters, `one WRITE FIRST PSN per operation (${opcodes.get(Op.RDMA_WRITE_FIRST)} frames)`)
  t.equal(lastPsns.size, iters, `one WRITE LAST PSN per operation (${opcodes.get(Op.RDMA_WRITE_LAST)} frames)`)
  t.ok((opcodes.get(Op.ACKNOWLEDGE) ?? 0) >= 1, `the server's ACKs are in it too (${opcodes.get(Op.ACKNOWLEDGE)})`)
  t.equal(sources.size, 2, 'frames from both nodes (client requests, server ACKs)')

  // The nodes' own counters agree: every packet sent is in the capture.
  let sent = 0
  for (const name of readdirSync(json.runDir).filter((n) => n.endsWith('.log'))) {
    for (const line of readFileSync(join(json.runDir, name), 'utf8').split('\n')) {
      if (line.includes('data-plane counters at close')) sent += (JSON.parse(line) as { counters: { pktsSent: number } }).counters.pktsSent
    }
  }
  t.equal(frames, sent, `frames in the capture = packets the nodes sent (${sent})`)

  const probe = spawnSync('tshark', ['--version'], { encoding: 'utf8' })
  t.test('Wireshark decodes every frame as InfiniBand, none malformed', { skip: probe.error || probe.status !== 0 ? 'tshark not on PATH' : false }, async (t) => {
    const r = spawnSync('tshark', ['-r', file, '-T', 'fields', '-e', 'infiniband.bth.opcode', '-e', '_ws.malformed'], { encoding: 'utf8', maxBuffer: 64 << 20 })
    t.equal(r.status, 0, 'tshark read the capture')
    const rows = r.stdout.trim().split('\n').map((l) => l.split('\t'))
    t.equal(rows.length, frames, 'tshark sees every frame')
    t.equal(rows.filter(([op]) => op === '').length, 0, 'every frame has an InfiniBand BTH opcode')
    t.equal(rows.filter(([, bad]) => bad !== undefined && bad !== '').length, 0, 'no frame is malformed')
  })
})

t.test('pcap - --pcap with --attach is refused with exit 2', async (t) => {
  const r = await runCli(['bench', 'write_bw', '--attach', '/nonexistent', '--pcap', '/tmp/x.pcap'])
  t.equal(r.code, 2)
  t.match(r.stderr, /--pcap: not with --attach/)
})
