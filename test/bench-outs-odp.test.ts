import t, { type Test } from 'tap'
import { Access } from '../src/verbs/constants.ts'
import { startBench } from './helpers/bench-run.ts'

// `-o N` sets the client QP's max_rd_atomic and the server QP's
// max_dest_rd_atomic (read and atomic tests; write and send tests ignore it,
// as perftest does); the run reports both ends' attributes as `qp.query`
// returns them. `--odp` registers the server MRs with ON_DEMAND. Runs in parallel.
const bench = (t: Test, args: string[]) => startBench(t, [...args, '--json'])

const readOuts1 = bench(t, ['read_bw', '-s', '4096', '-n', '300', '-t', '32', '-o', '1'])
const atomicDefault = bench(t, ['atomic_bw', '-n', '200', '-t', '16'])
const writeOdp = bench(t, ['write_bw', '-n', '100', '--odp'])
const sendOuts1 = bench(t, ['send_bw', '-s', '1024', '-n', '100', '-o', '1'])
// -o above the device maximum, -t above the default send queue (1024), -s in hex: as perftest.
const readOver = bench(t, ['read_bw', '-s', '0x40', '-n', '3000', '-t', '2000', '-o', '200'])

interface Doc {
  results: Record<string, number>
  rdma_emu: {
    options: { outs?: number; odp: boolean; size: number; txDepth: number }
    qpDepths: { client: { maxRdAtomic: number; maxDestRdAtomic: number }; server: { maxRdAtomic: number; maxDestRdAtomic: number } }
    serverMrAccess: number
    dataCheck: { ok: boolean; problems: string[] }
  }
}

function parse(t: Test, r: { code: number | null; stdout: string; stderr: string }): Doc {
  t.equal(r.code, 0, r.stderr)
  return JSON.parse(r.stdout) as Doc
}

t.test('bench - read_bw -o 1: one outstanding read per QP, data intact', async (t) => {
  const doc = parse(t, await readOuts1(t))
  t.equal(doc.rdma_emu.options.outs, 1)
  t.equal(doc.rdma_emu.qpDepths.client.maxRdAtomic, 1, 'client QP max_rd_atomic is 1')
  t.equal(doc.rdma_emu.qpDepths.server.maxDestRdAtomic, 1, 'server QP max_dest_rd_atomic is 1')
  t.equal(doc.results.n_iterations, 300, 'every read completed')
  t.same(doc.rdma_emu.dataCheck, { ok: true, problems: [] }, 'reads left the server target unchanged')
  t.equal(doc.rdma_emu.options.odp, false)
  t.equal(doc.rdma_emu.serverMrAccess & Access.ON_DEMAND, 0, 'without --odp the server MRs are not ON_DEMAND')
})

t.test('bench - atomic_bw without -o uses the device maximum', async (t) => {
  const doc = parse(t, await atomicDefault(t))
  t.equal(doc.rdma_emu.options.outs, 128)
  t.equal(doc.rdma_emu.qpDepths.client.maxRdAtomic, 128)
  t.equal(doc.rdma_emu.qpDepths.server.maxDestRdAtomic, 128)
  t.equal(doc.rdma_emu.dataCheck.ok, true)
})

t.test('bench - write_bw --odp: ON_DEMAND server MRs, data check passes', async (t) => {
  const doc = parse(t, await writeOdp(t))
  t.equal(doc.rdma_emu.options.odp, true)
  t.ok(doc.rdma_emu.serverMrAccess & Access.ON_DEMAND, `server MR access 0x${doc.rdma_emu.serverMrAccess.toString(16)} has ON_DEMAND`)
  t.ok(doc.rdma_emu.serverMrAccess & Access.REMOTE_WRITE, 'and remote write')
  t.equal(doc.results.n_iterations, 100)
  t.same(doc.rdma_emu.dataCheck, { ok: true, problems: [] }, 'the server holds what the run wrote')
})

t.test('bench - send_bw accepts -o and ignores it, as perftest', async (t) => {
  const doc = parse(t, await sendOuts1(t))
  t.equal(doc.rdma_emu.options.outs, undefined, 'no outstanding-reads setting for a send test')
  t.equal(doc.rdma_emu.qpDepths.client.maxRdAtomic, 128, 'the QP keeps the device default')
  t.equal(doc.rdma_emu.qpDepths.server.maxDestRdAtomic, 128)
  t.equal(doc.rdma_emu.dataCheck.ok, true)
})

t.test('bench - read_bw -o above the device maximum warns and uses the maximum; -t 2000; -s 0x40', async (t) => {
  const r = await readOver(t)
  const doc = parse(t, r)
  t.match(r.stderr, /WARNING: -o\/--outs: number of outstanding reads is above max = 128; changing to that max value/, 'perftest\'s warning, on stderr')
  t.equal(doc.rdma_emu.options.outs, 128, 'clamped to max_qp_rd_atom')
  t.equal(doc.rdma_emu.qpDepths.client.maxRdAtomic, 128)
  t.equal(doc.rdma_emu.qpDepths.server.maxDestRdAtomic, 128)
  t.equal(doc.rdma_emu.options.size, 64, '-s 0x40 is 64 bytes')
  t.equal(doc.rdma_emu.options.txDepth, 2000, '-t 2000: beyond the default send queue')
  t.equal(doc.results.n_iterations, 3000, 'every read completed')
  t.same(doc.rdma_emu.dataCheck, { ok: true, problems: [] })
})
