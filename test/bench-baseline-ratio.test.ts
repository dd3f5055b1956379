import t, { type Test } from 'tap'
import { startBench } from './helpers/bench-run.ts'

// `bench --baseline --json`: beside the emulated run, raw ZeroMQ messaging of
// the same size and window between the same two processes; the JSON gains
// `baseline` (perftest's keys) and `ratio` (emulator / baseline of BW_average
// for _bw, of t_typical for _lat). Tiny runs, in parallel.
const bench = (t: Test, args: string[]) => startBench(t, [...args, '--baseline', '--json'])

const writeBw = bench(t, ['write_bw', '-s', '65536', '-n', '200'])
const readLat = bench(t, ['read_lat', '-s', '8', '-n', '100'])

t.test('bench - write_bw baseline has perftest keys and a positive BW_average ratio', async (t) => {
  const r = await writeBw(t)
  t.equal(r.code, 0, r.stderr)
  const doc = JSON.parse(r.stdout)
  for (const k of ['MsgSize', 'n_iterations', 'BW_peak', 'BW_average', 'MsgRate']) {
    t.type(doc.rdma_emu.baseline[k], 'number', `baseline.${k} is a number`)
  }
  t.equal(doc.rdma_emu.baseline.MsgSize, 65536)
  t.equal(doc.rdma_emu.baseline.n_iterations, 200)
  t.ok(doc.rdma_emu.baseline.BW_average > 0, `baseline BW_average ${doc.rdma_emu.baseline.BW_average} > 0`)
  t.equal(doc.rdma_emu.ratioMetric, 'BW_average')
  t.ok(doc.rdma_emu.ratio > 0, `ratio ${doc.rdma_emu.ratio} > 0`)
  t.ok(Math.abs(doc.rdma_emu.ratio * doc.rdma_emu.baseline.BW_average - doc.results.BW_average) <= 0.005 + 1e-9, 'ratio = emulator / baseline BW_average (results has the 2 decimals perftest prints)')
  t.equal(doc.rdma_emu.dataCheck.ok, true)
  t.equal(doc.rdma_emu.baselineCheck.ok, true, 'every raw ZeroMQ message arrived with its size')
})

t.test('bench - read_lat baseline has perftest keys and a positive t_typical ratio', async (t) => {
  const r = await readLat(t)
  t.equal(r.code, 0, r.stderr)
  const doc = JSON.parse(r.stdout)
  for (const k of ['MsgSize', 'n_iterations', 't_min', 't_max', 't_typical', 't_avg', 't_stdev', 'percentile_99', 'percentile_99.9']) {
    t.type(doc.rdma_emu.baseline[k], 'number', `baseline.${k} is a number`)
  }
  t.ok(doc.rdma_emu.baseline.t_typical > 0, `baseline t_typical ${doc.rdma_emu.baseline.t_typical} > 0`)
  t.equal(doc.rdma_emu.ratioMetric, 't_typical')
  t.ok(doc.rdma_emu.ratio > 0, `ratio ${doc.rdma_emu.ratio} > 0`)
  t.ok(Math.abs(doc.rdma_emu.ratio * doc.rdma_emu.baseline.t_typical - doc.results.t_typical) <= 0.005 + 1e-9, 'ratio = emulator / baseline t_typical (results has the 2 decimals perftest prints)')
  t.equal(doc.rdma_emu.baselineCheck.ok, true)
})
