import t, { type Test } from 'tap'
import { RECV_RING } from '../src/bench/run-bench.ts'
import { startBench } from './helpers/bench-run.ts'

// `bench -D SECONDS`: every QP runs the closed loop for that long instead of
// -n iterations. n_iterations is what completed (summed over QPs) between
// the margins (-f, duration / 4 by default: 0 for -D 1 and -D 3, 2 s for
// -D 10), the bandwidth comes from it, and the end-of-run data check holds for whatever
// count completed: FETCH_AND_ADD ends at start + completed, a send test
// re-posts receives as they complete. The 10-second run outlasts the control
// plane's 5-second default request timeout. Runs in parallel.
const bench = (t: Test, args: string[]) => startBench(t, [...args, '--json'])

const writeBw = bench(t, ['write_bw', '-s', '64', '-D', '10'])
const atomicBw = bench(t, ['atomic_bw', '-D', '1', '-q', '2', '-t', '16'])
const sendBw = bench(t, ['send_bw', '-s', '64', '-D', '3'])
const readLat = bench(t, ['read_lat', '-s', '8', '-D', '1'])

interface Doc {
  options: { duration?: number; margin?: number; iters: number }
  completedPerQp: number[]
  results: Record<string, number>
  elapsedMs: number
  dataCheck: { ok: boolean; problems: string[] }
}

function parse(t: Test, r: { code: number | null; stdout: string; stderr: string }): Doc {
  t.equal(r.code, 0, r.stderr)
  return JSON.parse(r.stdout) as Doc
}

t.test('bench - write_bw -D 10 runs for the duration and reports what completed inside the margins', async (t) => {
  const doc = parse(t, await writeBw(t))
  t.equal(doc.options.duration, 10)
  t.equal(doc.options.margin, 2, 'margin: duration / 4, rounded down (perftest)')
  t.equal(doc.completedPerQp.length, 1, 'one QP')
  const done = doc.completedPerQp[0]!
  t.ok(done > 0, `${done} operations completed`)
  t.ok(done < doc.options.iters, `fewer than the iteration cap (${doc.options.iters}): the duration ended the run`)
  const measured = doc.results.n_iterations!
  t.ok(measured > 0 && measured < done, `n_iterations ${measured}: the operations completed between 2 s and 8 s, fewer than the ${done} of the whole run`)
  t.ok(doc.elapsedMs >= 10_000 && doc.elapsedMs < 40_000, `elapsed ${doc.elapsedMs} ms: the duration, plus the drain of the last window`)
  const mibPerSec = (measured * 64) / 6 / 2 ** 20
  t.ok(Math.abs(doc.results.BW_average! - mibPerSec) < 1e-9 * mibPerSec + 1e-12, 'BW_average = operations inside the margins x size / the 6 s between them')
  t.equal(doc.results.BW_peak, 0, 'no BW peak with -D (perftest)')
  t.equal(doc.dataCheck.ok, true, 'the server holds what the run wrote')
})

t.test('bench - atomic_bw -D: FETCH_AND_ADD data check over the operations completed', async (t) => {
  const doc = parse(t, await atomicBw(t))
  t.equal(doc.completedPerQp.length, 2, 'two QPs')
  for (const [k, n] of doc.completedPerQp.entries()) t.ok(n > 0, `QP ${k}: ${n} operations completed`)
  t.equal(doc.results.n_iterations, doc.completedPerQp[0]! + doc.completedPerQp[1]!, 'n_iterations is the sum over QPs')
  // The check compares each word with start + completed and the returned originals with start .. start + completed - 1.
  t.same(doc.dataCheck, { ok: true, problems: [] }, 'every word ends at start + completed')
})

t.test('bench - send_bw -D re-posts receives and every send is received', async (t) => {
  const doc = parse(t, await sendBw(t))
  const done = doc.completedPerQp[0]!
  t.ok(done > RECV_RING, `${done} sends, more than the ${RECV_RING} receives posted up front`)
  t.same(doc.dataCheck, { ok: true, problems: [] }, 'one full-size receive completion per send, target intact')
})

t.test('bench - read_lat -D reports latency over what completed', async (t) => {
  const doc = parse(t, await readLat(t))
  const l = doc.results
  t.equal(l.n_iterations, doc.completedPerQp[0], 'n_iterations = operations completed')
  t.ok(l.n_iterations! > 0)
  t.ok(l.t_min! > 0 && l.t_min! <= l.t_typical! && l.t_typical! <= l.percentile_99! && l.t_typical! <= l.t_max!, 'ordered latency figures')
  t.equal(doc.dataCheck.ok, true)
})
