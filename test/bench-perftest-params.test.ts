import t from 'tap'
import { parseBenchOptions } from '../src/bench/bench-options.ts'
import { benchFigures, type QpRunResult } from '../src/bench/run-bench.ts'

// perftest's parameter rules (linux-rdma/perftest src/perftest_parameters.c,
// src/perftest_parameters.h) and its report arithmetic
// (perftest_parameters.c print_report_bw), on the parsed options and on
// benchFigures over synthetic QP runs: no cluster is started.

t.test('bench - -n defaults per test: DEF_ITERS_WB for write_bw, DEF_ITERS for the rest', async (t) => {
  const want: Record<string, number> = {
    write_bw: 5000, read_bw: 1000, send_bw: 1000, atomic_bw: 1000,
    write_lat: 1000, read_lat: 1000, send_lat: 1000, atomic_lat: 1000,
  }
  for (const [test, iters] of Object.entries(want)) t.equal(parseBenchOptions(test, {}).iters, iters, `${test}: -n ${iters}`)
  t.equal(parseBenchOptions('read_bw', { iters: '5' }).iters, 5, '-n 5 (MIN_ITER) is accepted')
})

/** A QP run of `n` operations, window 1, each taking `us` µs: completions at us, 2us, ... */
function steadyRun(n: number, us: number): QpRunResult {
  return { completed: n, elapsedMs: (n * us) / 1000, latenciesUs: Array.from({ length: n }, () => us) }
}

t.test('bench - #iterations is iterations x QPs in iteration mode', async (t) => {
  const o = parseBenchOptions('write_bw', { iters: '100', qp: '3', txDepth: '1' })
  const f = benchFigures(o, [steadyRun(100, 10), steadyRun(100, 10), steadyRun(100, 10)], false)
  t.equal(f.bw!.n_iterations, 300, '100 iterations x 3 QPs')
  const lat = parseBenchOptions('read_lat', { iters: '50', qp: '2' })
  t.equal(benchFigures(lat, [steadyRun(50, 5), steadyRun(50, 5)], false).lat!.n_iterations, 100, 'latency tests too')
})

t.test('bench - BW peak is 0 with -N, with -D and with -n above 20000', async (t) => {
  const run = [steadyRun(100, 10)]
  const measured = parseBenchOptions('write_bw', { iters: '100', txDepth: '1' })
  t.equal(measured.peak, true, 'measured by default')
  t.ok(benchFigures(measured, run, false).bw!.BW_peak > 0, 'a peak is printed by default')
  const noPeak = parseBenchOptions('write_bw', { iters: '100', txDepth: '1', noPeak: true })
  t.equal(benchFigures(noPeak, run, false).bw!.BW_peak, 0, '-N: BW peak 0')
  t.equal(noPeak.peakOffReason, undefined, '-N: no warning (asked for)')
  t.ok(benchFigures(noPeak, run, false).bw!.BW_average > 0, '-N: the average is still measured')
  const many = parseBenchOptions('write_bw', { iters: '20001', txDepth: '1' })
  t.equal(many.peak, false, '-n 20001: no peak')
  t.match(many.peakOffReason, /-n above 20000/)
  t.equal(benchFigures(many, [steadyRun(20001, 1)], false).bw!.BW_peak, 0, '-n 20001: BW peak 0')
  t.equal(parseBenchOptions('write_bw', { iters: '20000' }).peak, true, '-n 20000: still measured')
  const timed = parseBenchOptions('send_bw', { duration: '4', txDepth: '1' })
  t.equal(timed.peak, false, '-D: no peak')
  t.equal(timed.peakOffReason, '-D')
  t.equal(benchFigures(timed, [steadyRun(400_000, 10)], false).bw!.BW_peak, 0, '-D: BW peak 0')
})

t.test('bench - -D drops a margin at each end: duration / 4 by default, -f to set it', async (t) => {
  t.equal(parseBenchOptions('write_bw', { duration: '10' }).margin, 2, '-D 10: margin 10 / 4 = 2 (rounded down)')
  t.equal(parseBenchOptions('write_bw', { duration: '3' }).margin, 0, '-D 3: margin 0')
  t.equal(parseBenchOptions('write_bw', { duration: '10', margin: '1' }).margin, 1, '-f 1')
  t.equal(parseBenchOptions('write_bw', { duration: '10', margin: '0' }).margin, 0, '-f 0: nothing dropped')
  t.throws(() => parseBenchOptions('write_bw', { duration: '4', margin: '2' }), /-f\/--margin: the duration \(4 s\) must be longer than twice the margin \(2 s\)/)
  t.throws(() => parseBenchOptions('write_bw', { duration: '4', margin: '-1' }), /-f\/--margin: expected an integer/)

  // 4 s at one operation per 10 µs for the first 2 s and per 20 µs after: margin 1 s keeps [1 s, 3 s].
  const lat = [...Array.from({ length: 200_000 }, () => 10), ...Array.from({ length: 100_000 }, () => 20)]
  const run: QpRunResult = { completed: lat.length, elapsedMs: 4000, latenciesUs: lat }
  const o = parseBenchOptions('write_bw', { duration: '4', size: '1024', txDepth: '1' })
  t.equal(o.margin, 1)
  const f = benchFigures(o, [run], false).bw!
  t.equal(f.n_iterations, 100_001 + 50_000, 'only the operations completed between 1 s and 3 s (both ends included)')
  t.ok(Math.abs(f.MsgRate - 150_001 / 2 / 1e6) < 1e-9, `MsgRate over the 2 s window: ${f.MsgRate}`)
  const all = benchFigures({ ...o, margin: 0 }, [run], false).bw!
  t.equal(all.n_iterations, 300_000, 'margin 0: every operation')
  // Latency tests measure inside the margins too.
  const l = parseBenchOptions('read_lat', { duration: '4' })
  t.equal(benchFigures(l, [run], false).lat!.n_iterations, 150_001)
})
