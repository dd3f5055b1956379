import t from 'tap'
import { parseBenchOptions } from '../src/bench/bench-options.ts'
import { bwDecimals, tableRow } from '../src/bench/perftest-format.ts'
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

t.test('bench - -s as perftest reads it: K, M, hex; up to UINT_MAX / 2', async (t) => {
  const size = (s: string) => parseBenchOptions('write_bw', { size: s }).size
  t.equal(size('64K'), 65536)
  t.equal(size('1M'), 1 << 20)
  t.equal(size('0x1000'), 4096)
  t.equal(size('0x2K'), 2048, 'hex with a suffix')
  t.equal(size('4096'), 4096)
  t.equal(size('2147483647'), 0x7fffffff, 'UINT_MAX / 2')
  t.throws(() => size('2147483648'), /-s\/--size: expected a size 1-2147483647/)
  t.throws(() => size('2048M'), /-s\/--size: .*got "2048M"/)
  t.throws(() => size('1G'), /-s\/--size: .*got "1G"/, 'no G in perftest')
  t.throws(() => size('0'), /-s\/--size/)
  t.equal(parseBenchOptions('atomic_bw', { size: '0x8' }).size, 8, 'atomics: 0x8 is 8')
  t.equal(parseBenchOptions('write_bw', { all: true, maxSize: '64K' }).sizes!.at(-1), 65536, '--max-size takes the same forms')
})

t.test('bench - -n at least 5, -t up to MAX_TX (15000)', async (t) => {
  t.throws(() => parseBenchOptions('write_bw', { iters: '4' }), /-n\/--iters: expected an integer 5-/)
  t.equal(parseBenchOptions('write_bw', { txDepth: '15000' }).txDepth, 15000)
  t.throws(() => parseBenchOptions('write_bw', { txDepth: '15001' }), /-t\/--tx-depth: expected an integer 1-15000/)
})

t.test('bench - -o: above the device maximum warns and clamps; 0 or less is the maximum (ctx_set_out_reads)', async (t) => {
  const over = parseBenchOptions('read_bw', { outs: '1000' })
  t.equal(over.outs, 128)
  t.match(over.warnings, [/above max = 128; changing to that max value/])
  t.equal(parseBenchOptions('atomic_bw', { outs: '0' }).outs, 128, '-o 0: the maximum')
  t.equal(parseBenchOptions('read_lat', { outs: '-3' }).outs, 128, '-o -3: the maximum')
  t.same(parseBenchOptions('read_bw', { outs: '128' }).warnings, [], '-o 128: no warning')
  t.equal(parseBenchOptions('read_bw', { outs: '7' }).outs, 7)
  t.throws(() => parseBenchOptions('read_bw', { outs: 'x' }), /-o\/--outs: expected an integer/)
})

t.test('bench - small bandwidths print with six decimals in Gb/sec (inc_accuracy)', async (t) => {
  const row = (avg: number, gbits: boolean) => tableRow({ bw: { MsgSize: 2, n_iterations: 5000, BW_peak: avg * 1.5, BW_average: avg, MsgRate: 1.25 } }, gbits)
  const cells = (line: string) => line.trim().split(/\s+/)
  t.same(cells(row(0.0123456789, true)), ['2', '5000', '0.018519', '0.012346', '1.250000'], 'Gb/sec below 0.1: six decimals')
  t.same(cells(row(0.1, true)), ['2', '5000', '0.15', '0.10', '1.250000'], 'Gb/sec at 0.1: two')
  t.same(cells(row(0.0123456789, false)), ['2', '5000', '0.02', '0.01', '1.250000'], 'MiB/sec: always two (perftest: GBS only)')
  t.equal(bwDecimals(0.05, true), 6)
  t.equal(bwDecimals(0.05, false), 2)
})
