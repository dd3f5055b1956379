import t from 'tap'
import { parseBenchOptions } from '../src/bench/bench-options.ts'
import { sprintf } from '../src/bench/c-format.ts'
import { latencyDurationStats, latencyStats, qpSamples } from '../src/bench/latency-stats.ts'
import { addressLine, addressLines, bannerInfo, gidLine, nodeGid, testInfoLines } from '../src/bench/perftest-banner.ts'
import { perftestJsonText } from '../src/bench/perftest-json.ts'
import { bwRow, latDurationRow, latRow, tableHeaderLine } from '../src/bench/perftest-rows.ts'
import { ErrorCodes } from '../src/errors.ts'

// The output functions on fixed figures, no cluster: C printf's conversions,
// perftest's latency statistics (sort, tail trim, median, percentiles, int
// deviations), the rows and headers against strings C's printf prints for
// perftest's formats, the banner and address lines, the JSON text.

t.test('sprintf - C conversions perftest uses', async (t) => {
  t.equal(sprintf('%#04x|%#06x|%02d|%-7.6lf|%.2f|%5d|%-5lu|', 0, 17, 5, 0.5, -1.005, 42, 42), '0000|0x0011|05|0.500000|-1.00|   42|42   |', '# with 0 has no 0x prefix (C, unlike some printf ports)')
  t.equal(sprintf('%#016llx', 0x10000000), '0x00000010000000')
  t.equal(sprintf('%#08x', 0x123456789), '0x123456789', 'wider than the field: printed whole')
  t.equal(sprintf('100%% %s', 'done'), '100% done')
  t.throws(() => sprintf('%d %d', 1), { code: ErrorCodes.INTERNAL }, 'too few arguments')
})

t.test('latencyStats - exact order statistics with perftest\'s tail trim', async (t) => {
  // qpSamples drops each QP's last operation (perftest has no interval after it): 50 goes.
  const s = qpSamples([[5, 1, 4, 2, 3, 100, 7, 50]])
  t.same([...s], [5, 1, 4, 2, 3, 100, 7])
  // Sorted 1 2 3 4 5 7 100; LAT_MEASURE_TAIL drops 7 and 100: m = 5.
  t.same(latencyStats(s), { t_min: 1, t_max: 7, t_typical: 3, t_avg: 3, t_stdev: Math.sqrt(2), percentile_99: 7, 'percentile_99.9': 7 }, 't_max is delta[m], the second largest; percentiles at ceil(m x 0.99)')
  // m = 6 (even): the median is the mean of the two middle values.
  t.equal(latencyStats(Float64Array.of(1, 2, 3, 4, 5, 6, 7, 8)).t_typical, 3.5)
  t.equal(latencyStats(Float64Array.of(2, 4, 6, 8, 10, 12, 14), 0.5).t_typical, 3, 'factor 0.5: half the round trip')
  // Deviations below 1 usec vanish: perftest keeps each in an int before squaring it.
  t.equal(latencyStats(Float64Array.of(1.5, 2, 2.5, 9, 9)).t_stdev, 0, 'int deviations, as perftest')
  t.same(latencyStats(new Float64Array(0)).t_typical, 0, 'no samples: zeros')
  t.same(qpSamples([[1, 2, 3], [4, 5]]).length, 3, 'one sample fewer per QP')
})

t.test('latencyStats - an HDR histogram above the exact bound, exact where it can be', async (t) => {
  let x = 12345
  const rand = () => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0) / 2 ** 32)
  const samples = Float64Array.from({ length: 20000 }, () => 10 + rand() * 90 + (rand() < 0.01 ? 1000 : 0))
  const exact = latencyStats(samples)
  const hist = latencyStats(samples, 1, 1000)
  for (const k of ['t_min', 't_max'] as const) t.equal(hist[k], exact[k], `${k} exact`)
  t.ok(Math.abs(hist.t_avg - exact.t_avg) < 1e-9, 't_avg exact (but for the summing order)')
  t.equal(hist.t_stdev, exact.t_stdev, 't_stdev exact')
  for (const k of ['t_typical', 'percentile_99', 'percentile_99.9'] as const) {
    t.ok(Math.abs(hist[k] / exact[k] - 1) < 0.002, `${k}: ${hist[k]} within 0.2 % of the exact ${exact[k]}`)
  }
})

t.test('latencyDurationStats - perftest\'s -D latency', async (t) => {
  t.same(latencyDurationStats(1000, 2000, 1), { t_avg: 2000, tps_average: 500 }, 'window / operations, operations / second')
  t.same(latencyDurationStats(1000, 2000, 1, 0.5), { t_avg: 1000, tps_average: 500 }, 'half round trip')
  t.same(latencyDurationStats(0, 2000, 1), { t_avg: 0, tps_average: 0 })
})

// The expected strings are what C's printf prints for perftest's formats.
t.test('rows - perftest\'s printf formats', async (t) => {
  t.equal(bwRow({ MsgSize: 65536, n_iterations: 5000, BW_peak: 1234.5, BW_average: 1200.25, MsgRate: 0.019204 }), ' 65536      5000             1234.50            1200.25\t\t     0.019204', 'REPORT_FMT')
  t.equal(bwRow({ MsgSize: 2, n_iterations: 5000, BW_peak: 0.0185185, BW_average: 0.0123456, MsgRate: 1.25 }, true), ' 2          5000           0.018519            0.012346            1.250000', 'REPORT_FMT_EXT (inc_accuracy)')
  t.equal(
    latRow({ MsgSize: 2, n_iterations: 1000, t_min: 1, t_max: 7, t_typical: 3, t_avg: 3, t_stdev: 1.4142135, percentile_99: 7, 'percentile_99.9': 7 }),
    ' 2       1000          1.00           7.00         3.00     \t       3.00        \t1.41   \t\t7.00    \t\t7.00   ',
    'REPORT_FMT_LAT',
  )
  t.equal(latDurationRow({ MsgSize: 8, n_iterations: 1000, t_avg: 2000, tps_average: 500 }), ' 8             1000            2000.00        500.00 ', 'REPORT_FMT_LAT_DUR')
  t.equal(bwRow({ MsgSize: 8, n_iterations: 5, BW_peak: 0, BW_average: 1, MsgRate: 1 }, false, 12.5), ' 8          5                0.00               1.00   \t\t     1.000000\t    12.50', 'REPORT_EXT_CPU_UTIL')
  t.equal(tableHeaderLine('bw', true), ' #bytes     #iterations    BW peak[Gb/sec]    BW average[Gb/sec]   MsgRate[Mpps]')
  t.equal(tableHeaderLine('latDuration'), ' #bytes        #iterations       t_avg[usec]    tps average')
  t.ok(tableHeaderLine('lat').endsWith('99% percentile[usec]   99.9% percentile[usec] '), 'RESULT_FMT_LAT keeps its trailing space')
})

t.test('banner - test information and address lines', async (t) => {
  const o = parseBenchOptions('atomic_lat', { atomic_type: 'CMP_AND_SWAP', outs: '4' })
  const lines = testInfoLines(o, bannerInfo(o, 1024))
  t.equal(lines[1], '                    Atomic CMP_AND_SWAP Latency Test', 'the atomic type in the title')
  t.ok(lines.includes(' Outstand reads  : 4') && !lines.some((l) => l.startsWith(' Max inline data')), 'Outstand reads for atomics')
  t.ok(lines.includes(' Mtu             : 1024[B]'))
  t.notOk(lines.some((l) => l.startsWith(' CQ Moderation')), 'no CQ moderation line for a latency test')
  const w = parseBenchOptions('write_bw', {})
  t.ok(testInfoLines(w, bannerInfo(w, 4096)).includes(' Max inline data : 0[B]'))
  const a = { lid: 0, qpn: 0x11, psn: 0xabcdef, rkey: 0x130, vaddr: 0x10000000, outReads: 16 }
  t.equal(addressLine('local', 'send', a), ' local address: LID 0000 QPN 0x0011 PSN 0xabcdef', 'BASIC_ADDR_FMT only for send')
  t.equal(addressLine('remote', 'write', a), ' remote address: LID 0000 QPN 0x0011 PSN 0xabcdef RKey 0x000130 VAddr 0x00000010000000', 'RDMA_FMT for write')
  t.equal(addressLine('local', 'read', a), ' local address: LID 0000 QPN 0x0011 PSN 0xabcdef OUT 0x10 RKey 0x000130 VAddr 0x00000010000000', 'READ_FMT then RDMA_FMT for read')
  t.equal(gidLine(nodeGid(0)), ' GID: 00:00:00:00:00:00:00:00:00:00:255:255:127:00:00:01', 'node 0 is 127.0.0.1, bytes in decimal (%02d)')
  const both = addressLines('atomic', [{ local: a, remote: a }, { local: a, remote: a }], { local: nodeGid(1), remote: nodeGid(0) })
  t.same(both.map((l) => l.split(':')[0]), [' local address', ' GID', ' local address', ' GID', ' remote address', ' GID', ' remote address', ' GID'], 'every local line, then every remote one, each with its GID')
})

t.test('JSON - perftest\'s layout and decimals, our figures under rdma_emu', async (t) => {
  const o = parseBenchOptions('write_bw', { report_gbits: true })
  const bw = { MsgSize: 65536, n_iterations: 5000, BW_peak: 12.3, BW_average: 0.05, MsgRate: 0.1 }
  const text = perftestJsonText(o, bannerInfo(o, 4096), { bw }, { dataCheck: { ok: true } }, 42.123)
  const doc = JSON.parse(text)
  t.same(Object.keys(doc), ['test_info', 'results', 'rdma_emu'])
  t.equal(doc.test_info.test, 'RDMA_Write_BW_Test')
  t.match(text, /\n"BW_peak": 12\.300000,\n"BW_average": 0\.050000,\n"MsgRate": 0\.100000,\n"CPU_util": 42\.12\n\},\n/, 'six decimals below 0.1 Gb/sec; CPU_util after MsgRate')
  const mib = parseBenchOptions('write_bw', {})
  t.match(perftestJsonText(mib, bannerInfo(mib, 4096), { bw }, {}), /"BW_peak": 12\.30,\n"BW_average": 0\.05,\n"MsgRate": 0\.100000\n\}/, '%.2lf keeps its trailing zero')
  const lat = parseBenchOptions('read_lat', {})
  const latText = perftestJsonText(lat, bannerInfo(lat, 4096), { latDuration: { MsgSize: 2, n_iterations: 10, t_avg: 3, tps_average: 4 } }, {})
  t.same(JSON.parse(latText).results, { MsgSize: 2, n_iterations: 10, t_avg: 3, tps_average: 4 }, 'REPORT_FMT_LAT_DUR_JSON keys')
  t.match(latText, /"Outstand_reads": 128,\n/)
})

t.test('options - --out_json, --out_json_file, --extra-columns', async (t) => {
  t.equal(parseBenchOptions('write_bw', { out_json: true }).outJsonFile, 'perftest_out.json', '--out_json: perftest_out.json in the current directory')
  t.equal(parseBenchOptions('write_bw', { out_json: true, out_json_file: 'x.json' }).outJsonFile, 'x.json')
  t.equal(parseBenchOptions('write_bw', { out_json_file: 'x.json' }).outJsonFile, 'x.json', '--out_json_file alone writes too')
  t.equal(parseBenchOptions('write_bw', {}).outJsonFile, undefined)
  t.equal(parseBenchOptions('write_bw', { all: true, extraColumns: true }).extraColumns, true)
  t.throws(() => parseBenchOptions('write_bw', { extraColumns: true }), { code: ErrorCodes.BAD_ARGUMENT }, '--extra-columns without a sweep')
})
