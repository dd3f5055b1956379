import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { tempDir } from './cluster-helpers.ts'
import { startBench } from './helpers/bench-run.ts'

// Tiny real runs (one server and one client node process over loopback
// ZeroMQ): perftest's table for write_bw, perftest's JSON keys for read_lat,
// the data check passes, and no process is left behind.
const bench = (t: Test, args: string[]) => startBench(t, args)

const latJson = join(tempDir(t), 'lat.json')
const writeBw = bench(t, ['write_bw', '-s', '4096', '-n', '200', '-t', '16'])
const readLat = bench(t, ['read_lat', '-s', '8', '-n', '100', '--json', '--out_json_file', latJson])
const sendBw = bench(t, ['send_bw', '-s', '1024', '-n', '100', '-q', '2', '--report_gbits', '--json'])

t.test('bench - write_bw table has perftest columns', async (t) => {
  const r = await writeBw(t)
  t.equal(r.code, 0, r.stderr)
  t.match(r.stdout, /RDMA_Write BW Test/)
  t.match(r.stdout, /#bytes\s+#iterations\s+BW peak\[MiB\/sec\]\s+BW average\[MiB\/sec\]\s+MsgRate\[Mpps\]/)
  const row = r.stdout.split('\n').find((l) => /^\s*4096\s+200\s/.test(l))
  t.ok(row, 'a figures row for 4096 bytes x 200 iterations')
  const [, , peak, avg, rate] = row!.trim().split(/\s+/).map(Number)
  t.ok(avg! > 0 && peak! >= avg!, `BW peak ${peak} >= BW average ${avg} > 0`)
  t.ok(rate! > 0, 'MsgRate > 0')
  t.match(r.stdout, /data check\s+: OK/)
})

t.test('bench - json has perftest keys', async (t) => {
  const out = latJson
  const r = await readLat(t)
  t.equal(r.code, 0, r.stderr)
  const doc = JSON.parse(r.stdout)
  t.same(JSON.parse(readFileSync(out, 'utf8')), doc, '--out_json_file holds the same document')
  t.equal(doc.rdma_emu.test, 'read_lat')
  t.equal(doc.rdma_emu.dataCheck.ok, true)
  const keys = ['MsgSize', 'n_iterations', 't_min', 't_max', 't_typical', 't_avg', 't_stdev', 'percentile_99', 'percentile_99.9']
  for (const k of keys) t.type(doc.results[k], 'number', `results.${k} is a number`)
  t.equal(doc.results.MsgSize, 8)
  t.equal(doc.results.n_iterations, 100)
  const l = doc.results
  t.ok(l.t_min > 0 && l.t_min <= l.t_typical && l.t_typical <= l.percentile_99 && l.percentile_99 <= l['percentile_99.9'] && l.t_min <= l.t_max, 'ordered figures')
  t.equal(doc.rdma_emu.halfRoundTrip, false, 'read latency is the full round trip, as perftest')
})

t.test('bench - bw json has perftest keys', async (t) => {
  const r = await sendBw(t)
  t.equal(r.code, 0, r.stderr)
  const doc = JSON.parse(r.stdout)
  for (const k of ['MsgSize', 'n_iterations', 'BW_peak', 'BW_average', 'MsgRate']) t.type(doc.results[k], 'number', `results.${k} is a number`)
  t.equal(doc.rdma_emu.units.BW, 'Gb/sec')
  t.equal(doc.results.n_iterations, 200, '#iterations is -n x QPs (100 x 2), as perftest')
  t.equal(doc.rdma_emu.dataCheck.ok, true)
})
