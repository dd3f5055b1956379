import t, { type Test } from 'tap'
import { RECV_RING } from '../src/bench/run-bench.ts'
import { startBench } from './helpers/bench-run.ts'

// `bench -D SECONDS`: every QP runs the closed loop for that long instead of
// -n iterations. n_iterations is what completed (summed over QPs) between
// the margins (-f, duration / 4 by default: 0 for -D 1 and -D 3, 1 s for
// -D 6), the bandwidth comes from it, and the end-of-run data check holds for whatever
// count completed: FETCH_AND_ADD ends at start + completed, a send test
// re-posts receives as they complete. The 6-second run outlasts the control
// plane's 5-second default request timeout. Runs in parallel.
const bench = (t: Test, args: string[]) => startBench(t, [...args, '--json'])

const writeBw = bench(t, ['write_bw', '-s', '64', '-D', '6'])
const atomicBw = bench(t, ['atomic_bw', '-D', '1', '-q', '2', '-t', '16'])
const sendBw = bench(t, ['send_bw', '-s', '64', '-D', '3'])
const readLat = bench(t, ['read_lat', '-s', '8', '-D', '1'])

interface Doc {
  results: Record<string, number>
  rdma_emu: {
    options: { duration?: number; margin?: number; iters: number }
    completedPerQp: number[]
    elapsedMs: number
    dataCheck: { ok: boolean; problems: string[] }
    latency?: Record<string, number>
  }
}

function parse(t: Test, r: { code: number | null; stdout: string; stderr: string }): Doc {
  t.equal(r.code, 0, r.stderr)
  return JSON.parse(r.stdout) as Doc
}

t.test('bench - write_bw -D 6 runs for the duration and reports what completed inside the margins', async (t) => {
  const doc = parse(t, await writeBw(t))
  t.equal(doc.rdma_emu.options.duration, 6)
  t.equal(doc.rdma_emu.options.margin, 1, 'margin: duration / 4, rounded down (perftest)')
  t.equal(doc.rdma_emu.completedPerQp.length, 1, 'one QP')
  const done = doc.rdma_emu.completedPerQp[0]!
  t.ok(done > 0, `${done} operations completed`)
  t.ok(done < doc.rdma_emu.options.iters, `fewer than the iteration cap (${doc.rdma_emu.options.iters}): the duration ended the run`)
  const measured = doc.results.n_iterations!
  t.ok(measured > 0 && measured < done, `n_iterations ${measured}: the operations completed between 1 s and 5 s, fewer than the ${done} of the whole run`)
  t.ok(doc.rdma_emu.elapsedMs >= 6_000 && doc.rdma_emu.elapsedMs < 40_000, `elapsed ${doc.rdma_emu.elapsedMs} ms: the duration, plus the drain of the last window`)
  const mibPerSec = (measured * 64) / 4 / 2 ** 20
  t.ok(Math.abs(doc.results.BW_average! - mibPerSec) <= 0.005 + 1e-9, 'BW_average = operations inside the margins x size / the 4 s between them (to the 2 decimals perftest prints)')
  t.equal(doc.results.BW_peak, 0, 'no BW peak with -D (perftest)')
  t.equal(doc.rdma_emu.dataCheck.ok, true, 'the server holds what the run wrote')
})

t.test('bench - atomic_bw -D: FETCH_AND_ADD data check over the operations completed', async (t) => {
  const doc = parse(t, await atomicBw(t))
  t.equal(doc.rdma_emu.completedPerQp.length, 2, 'two QPs')
  for (const [k, n] of doc.rdma_emu.completedPerQp.entries()) t.ok(n > 0, `QP ${k}: ${n} operations completed`)
  t.equal(doc.results.n_iterations, doc.rdma_emu.completedPerQp[0]! + doc.rdma_emu.completedPerQp[1]!, 'n_iterations is the sum over QPs')
  // The check compares each word with start + completed and the returned originals with start .. start + completed - 1.
  t.same(doc.rdma_emu.dataCheck, { ok: true, problems: [] }, 'every word ends at start + completed')
})

t.test('bench - send_bw -D re-posts receives and every send is received', async (t) => {
  const doc = parse(t, await sendBw(t))
  const done = doc.rdma_emu.completedPerQp[0]!
  t.ok(done > RECV_RING, `${done} sends, more than the ${RECV_RING} receives posted up front`)
  t.same(doc.rdma_emu.dataCheck, { ok: true, problems: [] }, 'one full-size receive completion per send, target intact')
})

t.test('bench - read_lat -D reports perftest\'s duration latency (t_avg, tps_average) over what completed', async (t) => {
  const doc = parse(t, await readLat(t))
  const l = doc.results
  t.same(Object.keys(l), ['MsgSize', 'n_iterations', 't_avg', 'tps_average'], "perftest's -D latency keys (REPORT_FMT_LAT_DUR_JSON)")
  t.equal(l.n_iterations, doc.rdma_emu.completedPerQp[0], 'n_iterations = operations completed')
  t.ok(l.n_iterations! > 0)
  // One QP, full round trip: t_avg = window / operations and tps = operations / window, so t_avg x tps = 1e6 (to the printed decimals).
  t.ok(Math.abs((l.t_avg! * l.tps_average!) / 1e6 - 1) < 0.005 / l.t_avg! + 0.005 / l.tps_average! + 1e-9, `t_avg ${l.t_avg} usec x tps ${l.tps_average} = 1e6`)
  const s = doc.rdma_emu.latency!
  t.ok(s.t_min > 0 && s.t_min <= s.t_typical && s.t_typical <= s.percentile_99 && s.t_typical <= s.t_max, 'our ordered latency figures under rdma_emu.latency')
  t.equal(doc.rdma_emu.dataCheck.ok, true)
})
