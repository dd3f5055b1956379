import t, { type Test } from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { decodePacket } from '../fabric/codec.ts'
import { Op } from '../src/engine/opcodes.ts'
import { startBench } from './helpers/bench-run.ts'
import { tempDir } from './cluster-helpers.ts'

// write_lat and send_lat on a real cluster are perftest's application
// ping-pong: the server node answers every message (an RDMA WRITE into the
// client's buffer after polling its own, a SEND after polling its receive
// CQ), and the figure is half the client's round trip. The capture shows
// both directions: as many answers from the server as messages from the
// client. (The figure itself: test/pingpong-engine.test.ts.) Both runs go in parallel.
const N = 60

function start(t: Test, test: string): { pcap: string; run: ReturnType<typeof startBench> } {
  const pcap = join(tempDir(t), `${test}.pcap`)
  return { pcap, run: startBench(t, [test, '-s', '32', '-n', String(N), '--json', '--pcap', pcap]) }
}

/** Distinct PSNs of `op` per source address in a capture (a retransmission repeats a PSN). */
function psnsBySource(file: string, op: number): number[] {
  const b = readFileSync(file)
  const by = new Map<string, Set<number>>()
  for (let o = 24; o < b.length; ) {
    const incl = b.readUInt32LE(o + 8)
    const f = b.subarray(o + 16, o + 16 + incl)
    o += 16 + incl
    const pkt = decodePacket(f.subarray(42, f.length - 4))
    if (pkt.opcode !== op) continue
    const src = [...f.subarray(26, 30)].join('.')
    if (!by.has(src)) by.set(src, new Set())
    by.get(src)!.add(pkt.psn)
  }
  return [...by.values()].map((s) => s.size)
}

const write = start(t, 'write_lat')
const send = start(t, 'send_lat')

for (const [name, c, op] of [['write_lat', write, Op.RDMA_WRITE_ONLY], ['send_lat', send, Op.SEND_ONLY]] as const) {
  t.test(`bench - ${name} is a ping-pong: the server answers each of the ${N} messages`, async (t) => {
    const r = await c.run(t)
    t.equal(r.code, 0, `exit 0 (stderr: ${r.stderr.slice(0, 300)})`)
    // Exit 0: the end-of-run check found every round trip answered by the
    // server (as many answers as round trips) and its buffer holding the last count.
    t.same(psnsBySource(c.pcap, op), [N, N], `${N} messages from the client and ${N} answers from the server`)
  })
}
