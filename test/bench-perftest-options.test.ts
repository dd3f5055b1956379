import t from 'tap'
import { parseBenchOptions } from '../src/bench/bench-options.ts'
import { DEF_PORT, MAX_REPEAT, UNSUPPORTED_OPTIONS, perftestBannerLines, splitConfigOption } from '../src/bench/perftest-options.ts'
import { cG, sampleLines } from '../src/bench/perftest-report.ts'
import { spread } from '../src/bench/repeat.ts'
import { cpuFigures } from '../src/bench/cpu-util.ts'
import { bwRow, tableHeaderLine } from '../src/bench/perftest-rows.ts'
import { main } from '../src/cli/main.ts'

// The perftest options of issue 13 item 17 (perftest_parameters.c's rules),
// --cpu_util and --repeat, on the parsed options: no cluster is started.
// Bad values throw EmuError(BAD_ARGUMENT) naming the option; through the CLI
// that is exit 2 (checked in-process with main(), before any launch).

const p = (test: string, raw: Record<string, unknown> = {}) => parseBenchOptions(test, raw)

t.test('bench - defaults of the perftest options', async (t) => {
  const s = p('write_bw').perftest
  t.equal(s.port, DEF_PORT, '-p: perftest\'s 18515')
  t.equal(s.cqMod, 1, '-Q: every WR signaled unless asked')
  t.equal(s.postList, 1, '-l: one WR per post')
  t.equal(s.connection, 'RC')
  t.same([s.events, s.useSrq, s.runInfinitely, s.histogram, s.unsorted, s.rdmaCm, s.cpuFreqF, s.performWarmUp, s.reportBoth], [false, false, false, false, false, false, false, false, false])
  t.same(perftestBannerLines(s), [], 'nothing extra in the banner without them')
  t.equal(p('write_bw').repeat, 1)
  t.equal(p('write_bw').cpuUtil, false)
})

t.test('bench - options with no meaning here are accepted and reported: -d -i -x -F -R', async (t) => {
  const s = p('write_bw', { ibDev: 'mlx5_0', ibPort: '1', gidIndex: '3', CPUFreq: true, rdma_cm: true }).perftest
  t.equal(s.ibDev, 'mlx5_0')
  t.equal(s.ibPort, 1)
  t.equal(s.gidIndex, 3)
  const banner = perftestBannerLines(s).join('\n')
  for (const re of [/Device\s+: mlx5_0/, /IB port\s+: 1/, /GID index\s+: 3/, /CPU freq check\s+: off/, /rdma_cm\s+: yes/]) t.match(banner, re)
  t.throws(() => p('write_bw', { ibPort: '0' }), /-i\/--ib-port: expected an integer 1-255, got "0"/)
  t.throws(() => p('write_bw', { gidIndex: '65' }), /-x\/--gid-index: expected an integer 0-64, got "65"/)
  t.throws(() => p('write_bw', { ibDev: ' ' }), /-d\/--ib-dev: expected a device name/)
})

t.test('bench - -m MTU: 256..4096 powers of two, the QPs\' path MTU', async (t) => {
  for (const m of [256, 512, 1024, 2048, 4096]) t.equal(p('write_bw', { mtu: String(m) }).perftest.mtu, m)
  t.equal(p('write_bw').perftest.mtu, undefined, 'default: the port MTU')
  t.throws(() => p('write_bw', { mtu: '1500' }), /-m\/--mtu: expected one of 256, 512, 1024, 2048, 4096, got "1500"/)
  t.throws(() => p('write_bw', { mtu: 'x' }), /-m\/--mtu: expected an integer/)
})

t.test('bench - -c RC only; -c also names the configuration file', async (t) => {
  t.equal(p('write_bw', { connection: 'RC' }).perftest.connection, 'RC')
  for (const c of ['UC', 'UD', 'XRC', 'DC', 'SRD', 'RawEth']) t.throws(() => p('write_bw', { connection: c }), new RegExp(`-c/--connection: ${c} is not supported yet`))
  t.throws(() => p('write_bw', { connection: 'TCP' }), /-c\/--connection: expected a connection type/)
  t.same(splitConfigOption(undefined, 'd.json'), { config: 'd.json' })
  t.same(splitConfigOption(['RC'], 'd.json'), { config: 'd.json', connection: 'RC' })
  t.same(splitConfigOption(['my.json', 'UD'], 'd.json'), { config: 'my.json', connection: 'UD' })
})

t.test('bench - -u QP timeout 0-31, -p port 1-65535', async (t) => {
  t.equal(p('read_bw', { qpTimeout: '18' }).perftest.qpTimeout, 18)
  t.throws(() => p('read_bw', { qpTimeout: '32' }), /-u\/--qp-timeout: expected an integer 0-31, got "32"/)
  t.equal(p('write_bw', { port: '19000' }).perftest.port, 19000)
  t.throws(() => p('write_bw', { port: '0' }), /-p\/--port: expected an integer 1-65535, got "0"/)
  t.throws(() => p('write_bw', { port: '70000' }), /-p\/--port: expected an integer 1-65535/)
})

t.test('bench - -I inline size 0-1024, not on READ/atomic (perftest)', async (t) => {
  t.equal(p('write_bw', { inline_size: '220' }).perftest.inlineSize, 220)
  t.match(perftestBannerLines(p('send_lat', { inline_size: '64' }).perftest).join('\n'), /Max inline data\s+: 64\[B\]/)
  t.throws(() => p('write_bw', { inline_size: '1025' }), /-I\/--inline_size: expected an integer 0-1024/)
  t.throws(() => p('read_bw', { inline_size: '16' }), /-I\/--inline_size: inline is not available on READ\/Atomic verbs/)
  t.throws(() => p('atomic_lat', { inline_size: '16' }), /-I\/--inline_size: inline is not available/)
})

t.test('bench - -Q CQ moderation and -l post list follow perftest\'s rules', async (t) => {
  t.equal(p('write_bw', { cqMod: '16' }).perftest.cqMod, 16)
  t.equal(p('write_bw', { cqMod: '500', txDepth: '64' }).perftest.cqMod, 64, '-Q above -t is clamped to -t (perftest)')
  t.throws(() => p('write_bw', { cqMod: '0' }), /-Q\/--cq-mod: expected an integer 1-1024, got "0"/)
  t.throws(() => p('write_bw', { cqMod: '1025' }), /-Q\/--cq-mod: expected an integer 1-1024/)
  t.throws(() => p('read_lat', { cqMod: '4' }), /-Q\/--cq-mod: CQ moderation applies to bw tests/)
  const warnings: string[] = []
  const l = p('write_bw', { post_list: '8', iters: '800' })
  t.equal(l.perftest.postList, 8)
  t.equal(l.perftest.cqMod, 8, 'without -Q, CQ moderation becomes the post list size (perftest)')
  t.match(l.warnings.join('\n'), /Post List requested - CQ moderation will be the size of the post list/)
  t.same(warnings, [])
  t.equal(p('write_bw', { post_list: '8', cqMod: '4', iters: '800' }).perftest.cqMod, 4)
  t.throws(() => p('write_bw', { post_list: '8', cqMod: '3', iters: '800' }), /-l\/--post_list: the post list size \(8\) must be a multiple of the CQ moderation \(-Q 3\)/)
  t.throws(() => p('write_bw', { post_list: '7', iters: '800' }), /-l\/--post_list: the number of iterations \(800\) must be a multiple of the post list size \(7\)/)
  t.equal(p('write_bw', { post_list: '7', duration: '2' }).perftest.postList, 7, '-D: no multiple needed')
  t.throws(() => p('write_bw', { post_list: '200' }), /-l\/--post_list: the post list size \(200\) must be at most the tx depth \(-t 128\)/)
  t.throws(() => p('write_lat', { post_list: '2' }), /-l\/--post_list: post lists apply to bw tests/)
})

t.test('bench - -r rx depth (send tests; 1 on RDMA verbs)', async (t) => {
  t.equal(p('send_bw', { rxDepth: '512' }).perftest.rxDepth, 512)
  t.equal(p('read_bw', { rxDepth: '1' }).perftest.rxDepth, 1)
  t.throws(() => p('read_bw', { rxDepth: '2' }), /-r\/--rx-depth: on RDMA verbs rx depth can be only 1/)
  t.throws(() => p('send_bw', { rxDepth: '0' }), /-r\/--rx-depth: expected an integer 1-16384/)
  t.throws(() => p('send_bw', { rxDepth: '16385' }), /-r\/--rx-depth: expected an integer 1-16384/)
  t.throws(() => p('send_bw', { rxDepth: '64' }), /-r\/--rx-depth: 64 receives cannot cover the 128 sends in flight/)
})

t.test('bench - -C refused naming why; -H and -U on latency tests only', async (t) => {
  t.throws(() => p('read_lat', { reportCycles: true }), /-C\/--report-cycles: not supported: the emulator has no cycle counter/)
  t.equal(p('read_lat', { reportHistogram: true }).perftest.histogram, true)
  t.equal(p('read_lat', { reportHistogrm: true }).perftest.histogram, true, "perftest's --report-histogrm spelling")
  const u = p('send_lat', { reportUnsorted: true }).perftest
  t.same([u.unsorted, u.histogram], [true, true], '-U implies -H')
  t.throws(() => p('write_bw', { reportHistogram: true }), /-H\/--report-histogram: available only on latency tests/)
  t.throws(() => p('read_bw', { reportUnsorted: true }), /-U\/--report-unsorted: available only on latency tests/)
  // perftest's lines: "#, usec" then "i, %g"; -H sorted without the 2 largest, -U every sample in order.
  const samples = [5, 1.5, 3, 100, 2]
  t.equal(sampleLines(p('read_lat', { reportHistogram: true }), samples), '#, usec\n1, 1.5\n2, 2\n3, 3\n')
  t.equal(sampleLines(p('read_lat', { reportUnsorted: true }), samples), '#, usec\n1, 5\n2, 1.5\n3, 3\n4, 100\n5, 2\n')
  t.same([cG(12.3456789), cG(1234567), cG(0.00001234), cG(100)], ['12.3457', '1.23457e+06', '1.234e-05', '100'], '%g')
})

t.test('bench - -w BW limit (bw tests), -e events (not on WRITE)', async (t) => {
  t.equal(p('write_bw', { limit_bw: '100.5' }).perftest.limitBw, 100.5)
  t.throws(() => p('write_bw', { limit_bw: '-1' }), /-w\/--limit_bw: expected a bandwidth >= 0/)
  t.throws(() => p('write_bw', { limit_bw: 'fast' }), /-w\/--limit_bw: expected a bandwidth/)
  t.throws(() => p('read_lat', { limit_bw: '1' }), /-w\/--limit_bw: a bandwidth limit applies to bw tests/)
  for (const test of ['read_bw', 'send_bw', 'atomic_lat']) t.equal(p(test, { events: true }).perftest.events, true, `${test} -e`)
  t.throws(() => p('send_lat', { events: true }), /-e\/--events: not supported yet with send_lat/, 'send_lat is a polling ping-pong: -e exits 2 naming it')
  t.throws(() => p('write_bw', { events: true }), /-e\/--events: events feature not available on WRITE verb/)
  t.throws(() => p('write_lat', { events: true }), /-e\/--events: events feature not available on WRITE verb/)
})

t.test('bench - --run_infinitely: bw tests, a -D interval (5 s by default), no peak', async (t) => {
  const o = p('write_bw', { run_infinitely: true })
  t.equal(o.perftest.runInfinitely, true)
  t.equal(o.duration, 5, "perftest's DEF_DURATION")
  t.equal(o.margin, 0, 'no margin: each line covers its whole interval')
  t.equal(o.peak, false)
  t.equal(p('read_bw', { run_infinitely: true, duration: '2' }).duration, 2, '-D sets the interval')
  t.throws(() => p('read_lat', { run_infinitely: true }), /--run_infinitely: exists only in bw tests/)
  t.throws(() => p('read_bw', { run_infinitely: true, events: true }), /--run_infinitely: does not support the events feature/)
  t.throws(() => p('write_bw', { run_infinitely: true, iters: '100' }), /--run_infinitely: not with -n/)
  t.throws(() => p('write_bw', { run_infinitely: true, repeat: '2' }), /--repeat: not with --run_infinitely/)
})

t.test('bench - --use-srq (send tests), --perform_warm_up (read/write/atomic bw), --report-both', async (t) => {
  t.equal(p('send_bw', { useSrq: true }).perftest.useSrq, true)
  t.throws(() => p('send_lat', { useSrq: true }), /--use-srq: not supported yet with send_lat/)
  t.throws(() => p('send_lat', { rxDepth: '64' }), /-r\/--rx-depth: not supported yet with send_lat/)
  t.throws(() => p('write_bw', { useSrq: true }), /--use-srq: using an SRQ is only available in SEND tests/)
  t.throws(() => p('send_bw', { useSrq: true, qp: '2' }), /--use-srq: with one QP only for now/)
  t.throws(() => p('send_bw', { useSrq: true, clients: '2' }), /--use-srq: with one QP only for now/)
  for (const test of ['write_bw', 'read_bw', 'atomic_bw']) t.equal(p(test, { perform_warm_up: true }).perftest.performWarmUp, true)
  t.throws(() => p('send_bw', { perform_warm_up: true }), /--perform_warm_up: valid in atomic, read and write bw tests/)
  t.throws(() => p('read_lat', { perform_warm_up: true }), /--perform_warm_up: valid in/)
  const both = p('write_bw', { reportBoth: true }).perftest
  t.equal(both.reportBoth, true)
  t.match(perftestBannerLines(both).join('\n'), /Report both\s+: accepted \(only changes -b runs/)
})

t.test('bench - --cpu_util: perftest warns outside duration mode; --repeat 1-100', async (t) => {
  const o = p('write_bw', { cpu_util: true })
  t.equal(o.cpuUtil, true)
  t.match(o.warnings.join('\n'), /CPU Utilization works only with Duration mode/)
  t.same(p('write_bw', { cpu_util: true, duration: '4' }).warnings, [], 'no warning with -D')
  t.equal(p('write_bw', { repeat: '5' }).repeat, 5)
  t.equal(p('write_bw', { repeat: String(MAX_REPEAT) }).repeat, MAX_REPEAT)
  t.throws(() => p('write_bw', { repeat: '0' }), /--repeat: expected an integer 1-100, got "0"/)
  t.throws(() => p('write_bw', { repeat: '101' }), /--repeat: expected an integer 1-100/)
  t.throws(() => p('write_bw', { repeat: '3', all: true }), /--repeat: not with a sweep/)
})

t.test('bench - --repeat summary: median (middle two for even counts), min, max', async (t) => {
  t.same(spread([3, 1, 2]), { median: 2, min: 1, max: 3, values: [3, 1, 2] })
  t.same(spread([4, 1, 3, 2]), { median: 2.5, min: 1, max: 4, values: [4, 1, 3, 2] })
  t.throws(() => spread([]))
})

t.test('bench - --cpu_util figures and perftest\'s CPU_Util[%] column', async (t) => {
  const at = (userUs: number, systemUs: number, atMs: number) => ({ pid: 1, userUs, systemUs, atMs })
  const before = new Map([['s', at(0, 0, 0)], ['c', at(1000, 0, 0)]])
  const after = new Map([['s', at(300_000, 100_000, 2000)], ['c', at(1_001_000, 500_000, 2000)]])
  const f = cpuFigures(before, after, 1000, 2000, new Map([['s', 'server'], ['c', 'client']]))
  t.equal(f.CPU_util, 75, 'client: 1.5 s of CPU in 2 s = 75 %')
  t.same(f.nodes.map((n) => [n.node, n.cpuUsPerOp, n.utilPercent]), [['s', 400, 20], ['c', 1500, 75]], 'CPU µs per operation, and % of one core')
  t.ok(tableHeaderLine('bw', false, true).endsWith('MsgRate[Mpps]    CPU_Util[%]'), "perftest's RESULT_EXT_CPU_UTIL ends the header")
  t.ok(bwRow({ MsgSize: 8, n_iterations: 5, BW_peak: 0, BW_average: 1, MsgRate: 0.1 }, false, 41.07).endsWith('0.100000\t    41.07'), "and REPORT_EXT_CPU_UTIL ('\\t    %-3.2f') each row")
})

/** Run the CLI in this process (bad options end before any cluster starts); exit code and stderr. */
async function cli(args: string[]): Promise<{ code: number; stderr: string }> {
  const write = process.stderr.write.bind(process.stderr)
  let stderr = ''
  process.stderr.write = ((chunk: string | Uint8Array) => {
    stderr += String(chunk)
    return true
  }) as typeof process.stderr.write
  try {
    const code = await main(['node', 'rdma-emu', ...args])
    return { code, stderr }
  } finally {
    process.stderr.write = write
    process.exitCode = undefined
  }
}

t.test('bench - every perftest option not supported yet exits 2 naming it', async (t) => {
  t.ok(UNSUPPORTED_OPTIONS.length > 100, `${UNSUPPORTED_OPTIONS.length} perftest options listed`)
  const wrong: string[] = []
  for (const [flags, hasArg] of UNSUPPORTED_OPTIONS) {
    const long = flags.split(', ').at(-1)!
    const r = await cli(['bench', 'write_bw', long, ...(hasArg ? ['1'] : []), '-c', '/nonexistent.json'])
    if (r.code !== 2 || !r.stderr.includes(`${flags}: perftest's option is not supported by rdma-emu bench yet`)) wrong.push(`${long}: exit ${r.code}, ${r.stderr}`)
  }
  t.same(wrong, [], 'each one: exit 2 and a message naming it')
  const short = await cli(['bench', 'write_bw', '-T', '3'])
  t.equal(short.code, 2, '-T (perftest --tos) exits 2')
  t.match(short.stderr, /-T, --tos: perftest's option is not supported by rdma-emu bench yet/)
  const b = await cli(['bench', 'read_bw', '-b'])
  t.match(b.stderr, /-b, --bidirectional: perftest's option is not supported/)
})

t.test('bench - bad item-17 values exit 2 through the CLI, before any launch', async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [['bench', 'write_bw', '-c', 'UD'], /-c\/--connection: UD is not supported yet/],
    [['bench', 'read_lat', '-C'], /-C\/--report-cycles: not supported/],
    [['bench', 'write_bw', '-m', '9000'], /-m\/--mtu: expected one of/],
    [['bench', 'write_bw', '-e'], /-e\/--events: events feature not available on WRITE verb/],
    [['bench', 'write_bw', '--use-srq'], /--use-srq: using an SRQ is only available in SEND tests/],
    [['bench', 'write_bw', '-Q', '0'], /-Q\/--cq-mod/],
    [['bench', 'write_bw', '--repeat', '0'], /--repeat: expected an integer 1-100/],
    [['bench', 'write_lat', '--run_infinitely'], /--run_infinitely: exists only in bw tests/],
  ]
  for (const [args, re] of cases) {
    const r = await cli(args)
    t.equal(r.code, 2, `${args.join(' ')}: exit 2`)
    t.match(r.stderr, re)
  }
})
