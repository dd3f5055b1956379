import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { tempDir } from './cluster-helpers.ts'
import { startBench } from './helpers/bench-run.ts'

// A perftest-format parser, written here from perftest's own printf formats
// (linux-rdma/perftest src/perftest_parameters.h, perftest_parameters.c,
// perftest_communication.h), run on the table and the JSON of real
// `rdma-emu bench` runs: write_bw and read_lat, with and without -a, and a
// -D latency test. It shares no code with rdma-emu's formatting. Each printf
// format becomes a regex with one group per conversion; each group is then
// checked the way printf prints it (digits, precision, field width, padding
// side), so a row printf could not have printed is rejected.

// ---------------------------------------------------------------- parser

interface Conversion {
  left: boolean
  zero: boolean
  alt: boolean
  width: number
  precision?: number
  conv: 'u' | 'd' | 'f' | 'x' | 's'
}
type Values = Array<string | number>

const SPEC = /%([-#0]*)(\d*)(?:\.(\d+))?(?:ll|l|h)?([udfxs])/g
const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

/** A parser of the lines printf(format, ...) prints: the values, or undefined. */
function formatParser(format: string): (line: string) => Values | undefined {
  const convs: Conversion[] = []
  let source = '^'
  let last = 0
  for (const m of format.matchAll(SPEC)) {
    source += escapeRe(format.slice(last, m.index))
    const [, flags, width, precision, conv] = m as unknown as [string, string, string, string | undefined, Conversion['conv']]
    const c: Conversion = { left: flags.includes('-'), zero: flags.includes('0'), alt: flags.includes('#'), width: width ? Number(width) : 0, conv, ...(precision !== undefined ? { precision: Number(precision) } : {}) }
    convs.push(c)
    source += c.conv === 's' ? '([^\\s"]+ *)' : c.left ? '([-0-9a-fx.]+ *)' : '( *[-0-9a-fx.]+)'
    last = m.index! + m[0].length
  }
  const re = new RegExp(source + escapeRe(format.slice(last)) + '$')
  return (line) => {
    const m = re.exec(line)
    if (!m) return undefined
    const out: Values = []
    for (const [i, c] of convs.entries()) {
      const v = fieldValue(m[i + 1]!, c)
      if (v === undefined) return undefined
      out.push(v)
    }
    return out
  }
}

/** The value of `field` if printf prints it so under `c`. */
function fieldValue(field: string, c: Conversion): string | number | undefined {
  const value = field.trim()
  if (field.length !== Math.max(c.width, value.length)) return undefined
  if (c.left ? field.startsWith(' ') : field.endsWith(' ')) return undefined
  if (c.zero && !c.left && field.startsWith(' ')) return undefined
  if (c.conv === 's') return value
  if (c.conv === 'u' || c.conv === 'd') return /^-?\d+$/.test(value) && (c.zero || !/^-?0\d/.test(value)) ? Number(value) : undefined
  if (c.conv === 'f') return new RegExp(`^-?\\d+\\.\\d{${c.precision ?? 6}}$`).test(value) ? Number(value) : undefined
  if (!c.alt) return /^[0-9a-f]+$/.test(value) ? parseInt(value, 16) : undefined
  // %#0Nx: a non-zero value is "0x" and zero-padded hex within the width; zero has no prefix.
  if (/^0+$/.test(value)) return value.length === Math.max(c.width, 1) ? 0 : undefined
  const m = /^0x([0-9a-f]+)$/.exec(value)
  if (!m || value.length < c.width || (value.length > c.width && m[1]!.startsWith('0'))) return undefined
  return parseInt(m[1]!, 16)
}

// ------------------------------------------ perftest's formats (PRIu64 is "lu")

// #define RESULT_LINE "---------------------------------------------------------------------------------------\n"
const RESULT_LINE = '---------------------------------------------------------------------------------------'
// #define RESULT_FMT " #bytes     #iterations    BW peak[MiB/sec]    BW average[MiB/sec]   MsgRate[Mpps]"
const RESULT_FMT = ' #bytes     #iterations    BW peak[MiB/sec]    BW average[MiB/sec]   MsgRate[Mpps]'
// #define RESULT_FMT_LAT " #bytes #iterations    t_min[usec]    t_max[usec]  t_typical[usec]    t_avg[usec]    t_stdev[usec]   99""%"" percentile[usec]   99.9""%"" percentile[usec] "
const RESULT_FMT_LAT = ' #bytes #iterations    t_min[usec]    t_max[usec]  t_typical[usec]    t_avg[usec]    t_stdev[usec]   99% percentile[usec]   99.9% percentile[usec] '
// #define RESULT_FMT_LAT_DUR " #bytes        #iterations       t_avg[usec]    tps average"
const RESULT_FMT_LAT_DUR = ' #bytes        #iterations       t_avg[usec]    tps average'
// #define REPORT_FMT " %-7lu    %-10" PRIu64 "       %-7.2lf            %-7.2lf\t\t     %-7.6lf"
const REPORT_FMT = formatParser(' %-7lu    %-10lu       %-7.2lf            %-7.2lf\t\t     %-7.6lf')
// #define REPORT_FMT_LAT " %-7lu %" PRIu64 "          %-7.2f        %-7.2f      %-7.2f  \t       %-7.2f     \t%-7.2f\t\t%-7.2f \t\t%-7.2f"
const REPORT_FMT_LAT = formatParser(' %-7lu %lu          %-7.2f        %-7.2f      %-7.2f  \t       %-7.2f     \t%-7.2f\t\t%-7.2f \t\t%-7.2f')
// #define REPORT_FMT_LAT_DUR " %-7lu       %" PRIu64 "            %-7.2f        %-7.2f"
const REPORT_FMT_LAT_DUR = formatParser(' %-7lu       %lu            %-7.2f        %-7.2f')

// perftest_communication.h: BASIC_ADDR_FMT " %s address: LID %#04x QPN %#06x PSN %#06x",
// READ_FMT " OUT %#04x", RDMA_FMT " RKey %#08x VAddr %#016llx"; ctx_print_pingpong_data
// prints READ_FMT for READ and falls through to RDMA_FMT for READ and WRITE.
const ADDRESS = {
  read: formatParser(' %s address: LID %#04x QPN %#06x PSN %#06x OUT %#04x RKey %#08x VAddr %#016llx'),
  write: formatParser(' %s address: LID %#04x QPN %#06x PSN %#06x RKey %#08x VAddr %#016llx'),
  basic: formatParser(' %s address: LID %#04x QPN %#06x PSN %#06x'),
}
// #define PERF_GID_FMT " %s: %02d:%02d:%02d:%02d:%02d:%02d:%02d:%02d:%02d:%02d:%02d:%02d:%02d:%02d:%02d:%02d\n"
const GID = formatParser(' %s: ' + Array(16).fill('%02d').join(':'))

// ctx_print_test_info (perftest_parameters.c), in its order; [name, printf format, required].
const TEST_INFO: Array<[string, string, boolean]> = [
  ['dual', ' Dual-port       : %s\t\tDevice         : %s', true],
  ['qps', ' Number of qps   : %d\t\tTransport type : %s', true],
  ['conn', ' Connection type : %s\t\tUsing SRQ      : %s', true],
  // The build without HAVE_RO and HAVE_TD_API: printf(" PCIe relax order: %s\t\tLock-free\t: %s\n", "Unsupported", "Unsupported")
  ['pcie', ' PCIe relax order: %s\t\tLock-free\t: %s', true],
  ['wr', ' ibv_wr* API     : %s\t\tUsing Enhanced Reorder      : %s', true],
  ['tx', ' TX depth        : %d', false],
  ['cqMod', ' CQ Moderation   : %d', false],
  ['cqePoll', ' CQE Poll Batch  : %s', false],
  ['mtu', ' Mtu             : %lu[B]', true],
  ['link', ' Link type       : %s', true],
  ['gid', ' GID index       : %d', false],
  ['inline', ' Max inline data : %d[B]', false],
  ['outs', ' Outstand reads  : %d', false],
  ['cm', ' rdma_cm QPs\t : %s', true],
  ['ex', ' Data ex. method : %s', true],
]
// printf("                    "); printf("%s ", testsStr[verb]); [printf("%s ", atomicTypesStr[..])]; printf("BW " | "Latency "); printf("Test\n")
const TITLE = /^ {20}(Send|RDMA_Write|RDMA_Read|Atomic) (?:(CMP_AND_SWAP|FETCH_AND_ADD) )?(BW|Latency) Test$/

interface Report {
  title: RegExpExecArray
  info: Record<string, Values>
  local: Values[]
  remote: Values[]
  gids: Values[]
  header: string
  rows: Values[]
  /** Our lines after perftest's closing RESULT_LINE. */
  after: string[]
}

/** Parse perftest's client output; throws naming the first line that does not fit. */
function parseReport(stdout: string, verb: 'read' | 'write' | 'basic'): Report {
  const lines = stdout.split('\n')
  let i = 0
  const fail = (what: string): never => {
    throw new Error(`line ${i + 1}: expected ${what}, got ${JSON.stringify(lines[i])}`)
  }
  const expectLine = (want: string) => (lines[i] === want ? i++ : fail(JSON.stringify(want)))
  if (lines[i] === " WARNING: BW peak won't be measured in this run.") i++
  expectLine(RESULT_LINE)
  const title = TITLE.exec(lines[i]!) ?? fail('the title')
  i++
  const info: Record<string, Values> = {}
  for (const [name, format, required] of TEST_INFO) {
    const v = formatParser(format)(lines[i]!)
    if (v) {
      info[name] = v
      i++
    } else if (required) fail(JSON.stringify(format))
  }
  expectLine(RESULT_LINE)
  const local: Values[] = []
  const remote: Values[] = []
  const gids: Values[] = []
  for (; lines[i] !== RESULT_LINE; i++) {
    const a = ADDRESS[verb](lines[i]!)
    const g = GID(lines[i]!)
    if (a && (a[0] === 'local' || a[0] === 'remote')) (a[0] === 'local' ? local : remote).push(a)
    else if (g && g[0] === 'GID') gids.push(g)
    else fail('an address or GID line')
  }
  expectLine(RESULT_LINE)
  const header = lines[i++]!
  const row = header === RESULT_FMT ? REPORT_FMT : header === RESULT_FMT_LAT ? REPORT_FMT_LAT : header === RESULT_FMT_LAT_DUR ? REPORT_FMT_LAT_DUR : fail('a header')
  const rows: Values[] = []
  for (; lines[i] !== RESULT_LINE; i++) rows.push(row(lines[i]!) ?? fail('a row'))
  expectLine(RESULT_LINE)
  return { title, info, local, remote, gids, header, rows, after: lines.slice(i) }
}

// write_test_info_to_file's lines (perftest_parameters.c), in order; [format, bw only, read/atomic only, write/send only].
const TEST_INFO_JSON: Array<[string, ('bw' | 'outs' | 'inline')?]> = [
  ['"test": "%s",'], ['"Dual_port": "%s",'], ['"Device": "%s",'], ['"Number_of_qps": %d,'], ['"Transport_type": "%s",'],
  ['"Connection_type": "%s",'], ['"Using_SRQ": "%s",'], [' "PCIe_relax_order": "%s",'], ['"ibv_wr_API": "%s",'], ['"TX_depth": %d,'],
  ['"CQ_Moderation": %d,', 'bw'], ['"Mtu": %lu,'], ['"Link_type": "%s",'], ['"GID_index": %d,'], ['"Max_inline_data": %d,', 'inline'], ['"Outstand_reads": %d,', 'outs'],
  ['"rdma_cm_QPs": "%s",'], ['"Use_ROCm_memory": "%s",'], ['"Use_MUSA_memory": "%s",'], ['"Data_ex_method": "%s"'],
]
// REPORT_FMT_JSON "\"MsgSize\": %lu,\n\"n_iterations\": %" PRIu64 ",\n\"BW_peak\": %.2lf,\n\"BW_average\": %.2lf,\n\"MsgRate\": %.6lf"
const REPORT_FMT_JSON = '"MsgSize": %lu,\n"n_iterations": %lu,\n"BW_peak": %.2lf,\n"BW_average": %.2lf,\n"MsgRate": %.6lf'
// REPORT_FMT_LAT_JSON "\"MsgSize\": %lu,\n\"n_iterations\": %" PRIu64 ",\n\"t_min\": %.2f,\n\"t_max\": %.2f,\n\"t_typical\": %.2f,\n\"t_avg\": %.2f,\n\"t_stdev\": %.2f,\n\"percentile_99\": %.2f,\n\"percentile_99.9\": %.2f"
const REPORT_FMT_LAT_JSON = '"MsgSize": %lu,\n"n_iterations": %lu,\n"t_min": %.2f,\n"t_max": %.2f,\n"t_typical": %.2f,\n"t_avg": %.2f,\n"t_stdev": %.2f,\n"percentile_99": %.2f,\n"percentile_99.9": %.2f'
// REPORT_FMT_LAT_DUR_JSON "\"MsgSize\": %lu,\n\"n_iterations\": %" PRIu64 ",\n\"t_avg\": %.2f,\n\"tps_average\": %.2f"
const REPORT_FMT_LAT_DUR_JSON = '"MsgSize": %lu,\n"n_iterations": %lu,\n"t_avg": %.2f,\n"tps_average": %.2f'

/** What the tests read of the parsed document (perftest's keys, then ours). */
interface Doc {
  test_info: Record<string, unknown>
  results: Record<string, number>
  rdma_emu: {
    dataCheck: { ok: boolean }
    addresses: Array<Record<'local' | 'remote', Record<string, number>>>
    points?: Array<{ MsgSize: number }>
  }
}

/** perftest's JSON text: "{", test_info, results as its writers print them; then our rdma_emu key. */
function parseJsonText(text: string, kind: 'bw' | 'lat' | 'latDur', outs: boolean): { info: Values[]; results: Values; doc: Doc } {
  const lines = text.split('\n')
  let i = 0
  const fail = (what: string): never => {
    throw new Error(`JSON line ${i + 1}: expected ${what}, got ${JSON.stringify(lines[i])}`)
  }
  const expectLine = (want: string) => (lines[i] === want ? i++ : fail(JSON.stringify(want)))
  expectLine('{')
  expectLine('"test_info": {')
  const info: Values[] = []
  for (const [format, only] of TEST_INFO_JSON) {
    if ((only === 'bw' && kind !== 'bw') || (only === 'outs' && !outs) || (only === 'inline' && outs)) continue
    info.push(formatParser(format)(lines[i]!) ?? fail(JSON.stringify(format)))
    i++
  }
  expectLine('},')
  expectLine('"results": {')
  const results: Values = []
  for (const format of (kind === 'bw' ? REPORT_FMT_JSON : kind === 'lat' ? REPORT_FMT_LAT_JSON : REPORT_FMT_LAT_DUR_JSON).split('\n')) {
    results.push(...(formatParser(format)(lines[i]!) ?? fail(JSON.stringify(format))))
    i++
  }
  expectLine('},')
  if (!lines[i]!.startsWith('"rdma_emu": {')) fail('"rdma_emu": {')
  return { info, results, doc: JSON.parse(text) as Doc }
}

// ---------------------------------------------------------------- the runs

const cwd = tempDir(t)
const files = { lat: join(tempDir(t), 'lat.json'), bwAll: join(tempDir(t), 'bw-all.json'), latAll: join(tempDir(t), 'lat-all.json'), latDur: join(tempDir(t), 'lat-dur.json') }
const bench = (t: Test, args: string[], dir?: string) => startBench(t, args, undefined, dir)
// --out_json alone: perftest_out.json in the current directory.
const writeBw = bench(t, ['ib_write_bw', '-s', '4096', '-n', '60', '-t', '8', '--out_json'], cwd)
const readLat = bench(t, ['read_lat', '-s', '8', '-n', '40', '--out_json_file', files.lat])
const writeBwAll = bench(t, ['write_bw', '-a', '--max-size', '16', '-n', '20', '-t', '4', '--out_json_file', files.bwAll])
const readLatAll = bench(t, ['read_lat', '-a', '--max-size', '8', '-n', '20', '--out_json_file', files.latAll])
const atomicLatDur = bench(t, ['atomic_lat', '-D', '1', '--out_json_file', files.latDur])

/** Our figures row and the JSON results name the same values (the same rounding). */
function sameFigures(t: Test, row: Values, results: Values, what: string): void {
  t.same(row, results, `${what}: the table row and the JSON results hold the same figures`)
}

/** The banner's fields every test shares. */
function checkInfo(t: Test, r: Report, tx: number): void {
  t.same(r.info.dual, ['OFF', 'rxe0'], 'Dual-port OFF, device rxe0')
  t.same(r.info.qps, [1, 'IB'], 'one QP, transport IB')
  t.same(r.info.conn, ['RC', 'OFF'], 'RC, no SRQ')
  t.same(r.info.pcie, ['Unsupported', 'Unsupported'])
  t.same(r.info.wr, ['OFF', 'OFF'])
  t.same(r.info.tx, [tx], `TX depth ${tx}`)
  t.same(r.info.mtu, [4096], 'the connected QP path MTU')
  t.same(r.info.link, ['Ethernet'])
  t.same(r.info.gid, [0])
  t.same(r.info.cm, ['OFF'])
  t.same(r.info.ex, ['Ethernet'])
  t.equal(r.gids.length, r.local.length + r.remote.length, 'a GID line after each address line')
  for (const g of r.gids) t.same(g.slice(1, 13), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255], 'IPv4-mapped GID')
  t.match(r.after.join('\n'), /^ data check\s+: OK/m, 'our data check line after perftest\'s block')
}

/** Address lines carry the QPs' real numbers, as the JSON's rdma_emu.addresses has them. */
function checkAddresses(t: Test, r: Report, doc: Doc, verb: 'read' | 'write' | 'basic'): void {
  const addr = doc.rdma_emu.addresses
  t.equal(r.local.length, addr.length, 'one local address line per QP')
  t.equal(r.remote.length, addr.length, 'one remote address line per QP')
  for (const [k, a] of addr.entries()) {
    for (const side of ['local', 'remote'] as const) {
      const want = [side, 0, a[side]!.qpn, a[side]!.psn, ...(verb === 'read' ? [a[side]!.outReads] : []), ...(verb === 'basic' ? [] : [a[side]!.rkey, a[side]!.vaddr])]
      t.same((side === 'local' ? r.local : r.remote)[k], want, `QP ${k} ${side}: LID, QPN, PSN${verb === 'basic' ? '' : ', RKey, VAddr'} as connected`)
      t.ok(a[side]!.qpn > 0 && (verb === 'basic' || a[side]!.rkey > 0), `QP ${k} ${side}: a real QPN${verb === 'basic' ? '' : ' and RKey'}`)
    }
  }
}

t.test('perftest parser - write_bw table and --out_json file', async (t) => {
  const r = await writeBw(t)
  t.equal(r.code, 0, r.stderr)
  const rep = parseReport(r.stdout, 'write')
  t.same([rep.title[1], rep.title[2], rep.title[3]], ['RDMA_Write', undefined, 'BW'], 'title: RDMA_Write BW Test')
  checkInfo(t, rep, 8)
  t.same(rep.info.cqMod, [1], 'CQ Moderation 1: every WR signalled')
  t.same(rep.info.cqePoll, ['Dynamic'])
  t.same(rep.info.inline, [0], 'Max inline data 0[B]')
  t.notOk(rep.info.outs, 'no Outstand reads for a write test')
  t.equal(rep.header, RESULT_FMT)
  t.equal(rep.rows.length, 1, 'one row')
  const [size, iters, peak, avg, rate] = rep.rows[0] as number[]
  t.same([size, iters], [4096, 60], 'MsgSize 4096, #iterations 60')
  t.ok(avg! > 0 && peak! >= avg!, `BW peak ${peak} >= BW average ${avg} > 0`)
  t.ok(Math.abs((rate! * 1e6 * 4096) / 2 ** 20 - avg!) <= 0.01 + avg! * 1e-5, `MsgRate ${rate} Mpps x 4096 B = BW average ${avg} MiB/sec`)
  const file = join(cwd, 'perftest_out.json')
  t.ok(existsSync(file), '--out_json wrote perftest_out.json in the current directory')
  const j = parseJsonText(readFileSync(file, 'utf8'), 'bw', false)
  t.same(j.info[0], ['RDMA_Write_BW_Test'])
  t.same(j.info.slice(1, 5), [['OFF'], ['rxe0'], [1], ['IB']])
  t.same(j.info[9], [8], 'TX_depth')
  t.same(j.info[10], [1], 'CQ_Moderation')
  t.same(j.info[11], [4096], 'Mtu')
  sameFigures(t, rep.rows[0]!, j.results, 'write_bw')
  t.same(Object.keys(j.doc), ['test_info', 'results', 'rdma_emu'], 'perftest\'s two keys, then ours')
  t.equal(j.doc.rdma_emu.dataCheck.ok, true)
  checkAddresses(t, rep, j.doc, 'write')
})

t.test('perftest parser - read_lat table and JSON', async (t) => {
  const r = await readLat(t)
  t.equal(r.code, 0, r.stderr)
  const rep = parseReport(r.stdout, 'read')
  t.same([rep.title[1], rep.title[3]], ['RDMA_Read', 'Latency'])
  checkInfo(t, rep, 1)
  t.same(rep.info.outs, [128], 'Outstand reads 128')
  t.notOk(rep.info.cqMod, 'no CQ Moderation line for a latency test')
  t.equal(rep.header, RESULT_FMT_LAT)
  const [size, iters, min, max, typ, avg, stdev, p99, p999] = rep.rows[0] as number[]
  t.same([size, iters], [8, 40])
  t.ok(min! > 0 && min! <= typ! && typ! <= p99! && p99! <= p999! && p999! <= max!, 'min <= median <= 99% <= 99.9% <= max')
  t.ok(min! <= avg! && avg! <= max! && stdev! >= 0, 'avg within min..max, stdev >= 0')
  const j = parseJsonText(readFileSync(files.lat, 'utf8'), 'lat', true)
  t.same(j.info[0], ['RDMA_Read_Latency_Test'])
  sameFigures(t, rep.rows[0]!, j.results, 'read_lat')
  checkAddresses(t, rep, j.doc, 'read')
})

t.test('perftest parser - write_bw -a: one header, one row per size, perftest\'s rule lines', async (t) => {
  const r = await writeBwAll(t)
  t.equal(r.code, 0, r.stderr)
  const rep = parseReport(r.stdout, 'write')
  checkInfo(t, rep, 4)
  t.equal(rep.header, RESULT_FMT)
  t.same(rep.rows.map((x) => x[0]), [2, 4, 8, 16], 'sizes 2 .. 16')
  for (const row of rep.rows) t.equal(row[1], 20, `${row[0]} B: #iterations 20`)
  t.notMatch(r.stdout, /clients|workers/, 'our sweep columns are not in perftest\'s table')
  const j = parseJsonText(readFileSync(files.bwAll, 'utf8'), 'bw', false)
  sameFigures(t, rep.rows[rep.rows.length - 1]!, j.results, 'the last size (perftest rewrites its file after every size)')
  t.same(j.doc.rdma_emu.points?.map((p) => p.MsgSize), [2, 4, 8, 16], 'every size under rdma_emu.points')
})

t.test('perftest parser - read_lat -a', async (t) => {
  const r = await readLatAll(t)
  t.equal(r.code, 0, r.stderr)
  const rep = parseReport(r.stdout, 'read')
  checkInfo(t, rep, 1)
  t.equal(rep.header, RESULT_FMT_LAT)
  t.same(rep.rows.map((x) => x[0]), [2, 4, 8])
  for (const row of rep.rows) t.equal(row[1], 20)
  const j = parseJsonText(readFileSync(files.latAll, 'utf8'), 'lat', true)
  sameFigures(t, rep.rows[2]!, j.results, 'read_lat -a, last size')
})

t.test('perftest parser - atomic_lat -D: the duration table, atomic type in the title', async (t) => {
  const r = await atomicLatDur(t)
  t.equal(r.code, 0, r.stderr)
  const rep = parseReport(r.stdout, 'basic')
  t.same([rep.title[1], rep.title[2], rep.title[3]], ['Atomic', 'FETCH_AND_ADD', 'Latency'], 'title: Atomic FETCH_AND_ADD Latency Test')
  checkInfo(t, rep, 1)
  t.equal(rep.header, RESULT_FMT_LAT_DUR)
  const [size, iters, tAvg, tps] = rep.rows[0] as number[]
  t.equal(size, 8)
  t.ok(iters! > 0 && tAvg! > 0 && tps! > 0, `${iters} operations, t_avg ${tAvg} usec, ${tps} tps`)
  const j = parseJsonText(readFileSync(files.latDur, 'utf8'), 'latDur', true)
  t.same(j.info[0], ['Atomic_FETCH_AND_ADD_Latency_Test'])
  sameFigures(t, rep.rows[0]!, j.results, 'atomic_lat -D')
  checkAddresses(t, rep, j.doc, 'basic')
})

t.test('perftest parser - rejects what printf could not have printed', async (t) => {
  // printf(REPORT_FMT, 4096, 60, 51.43, 9.13, 0.002337):
  const good = ' 4096       60               51.43              9.13   \t\t     0.002337'
  t.same(REPORT_FMT(good), [4096, 60, 51.43, 9.13, 0.002337], 'a real row parses')
  t.equal(REPORT_FMT(good.replace('51.43 ', '51.432')), undefined, 'three decimals where %.2lf prints two')
  t.equal(REPORT_FMT(good.replace('\t\t', '    ')), undefined, 'spaces where the format has tabs')
  t.equal(REPORT_FMT(' 4096      60                51.43              9.13   \t\t     0.002337'), undefined, '%-10lu padded to 9')
  t.equal(REPORT_FMT(good.replace(' 0.002337', '')), undefined, 'a missing MsgRate')
  t.equal(REPORT_FMT(good.replace('0.002337', '0.0023')), undefined, 'MsgRate with four decimals where %.6lf prints six')
  // printf(REPORT_FMT_LAT, 8, 40, 230.40, 65440.69, 311.51, 1507.24, 3581.95, 65440.69, 65440.69):
  const lat = ' 8       40          230.40         65440.69      311.51   \t       1507.24     \t3581.95\t\t65440.69 \t\t65440.69'
  t.ok(REPORT_FMT_LAT(lat), 'a real latency row parses')
  t.equal(REPORT_FMT_LAT(lat.replace(' 40 ', ' 4x ')), undefined, 'a non-number #iterations')
  t.same(ADDRESS.write(' local address: LID 0000 QPN 0x0011 PSN 0x1898d1 RKey 0x000130 VAddr 0x00000010000000'), ['local', 0, 17, 0x1898d1, 0x130, 0x10000000])
  t.equal(ADDRESS.write(' local address: LID 0x0000 QPN 0x0011 PSN 0x1898d1 RKey 0x000130 VAddr 0x00000010000000'), undefined, '%#04x prints 0 without 0x')
  t.equal(ADDRESS.write(' local address: LID 0000 QPN 0x11 PSN 0x1898d1 RKey 0x000130 VAddr 0x00000010000000'), undefined, '%#06x pads QPN to six')
  t.throws(() => parseReport(`${RESULT_LINE}\n                    RDMA_Write BW Test\n Dual-port : OFF\n`, 'write'), /expected " Dual-port/, 'a banner line out of format')
  t.throws(() => parseJsonText('{\n"test_info": {\n"test": RDMA_Write_BW_Test,\n', 'bw', false), /expected "\\"test\\": \\"%s\\",/, 'an unquoted JSON string')
})
