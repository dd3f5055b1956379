/**
 * `rdma-emu bench` options: perftest's names, parsed and validated into ONE
 * object with every default filled in. Each option has one rule; a broken
 * rule throws EmuError(BAD_ARGUMENT) naming the option (exit code 2).
 */
import { EmuError, ErrorCodes } from '../errors.ts'
import { Params } from '../params.ts'
import { DEF_DURATION, MAX_REPEAT, parsePerftestOptions, type PerftestSettings, type RawPerftestOptions } from './perftest-options.ts'

export const BENCH_TESTS = ['write_bw', 'read_bw', 'send_bw', 'atomic_bw', 'write_lat', 'read_lat', 'send_lat', 'atomic_lat'] as const
export type BenchTest = (typeof BENCH_TESTS)[number]
export type BenchVerb = 'write' | 'read' | 'send' | 'atomic'
export const ATOMIC_TYPES = ['FETCH_AND_ADD', 'CMP_AND_SWAP'] as const
export type AtomicType = (typeof ATOMIC_TYPES)[number]

/** perftest's DEFAULT_JSON_FILE_NAME: what --out_json writes when --out_json_file names no other file. */
export const DEFAULT_JSON_FILE_NAME = 'perftest_out.json'
/** Largest message size: perftest's -a upper bound (2^23). */
export const MAX_BENCH_SIZE = 1 << 23
/** Atomics always move 8 bytes (IBTA). */
export const ATOMIC_SIZE = 8
/** Most QPs one run may open. */
export const MAX_BENCH_QPS = 64
/** Longest -D run (seconds). */
export const MAX_DURATION_SECS = 3600
/**
 * Most operations one QP completes in a -D run: the run stops there even if
 * the duration has not passed, so memory (a latency per operation) stays bounded.
 */
export const DURATION_MAX_ITERS = 10_000_000
/** perftest's largest -s (UINT_MAX / 2, perftest_parameters.c). */
export const MAX_MSG_SIZE = 0x7fffffff
/** perftest's largest -t (MAX_TX, perftest_parameters.h). */
export const MAX_TX_DEPTH = 15000
/** perftest's -n bounds (MIN_ITER, perftest_parameters.h). */
export const MIN_ITERS = 5
/** Above this many iterations perftest does not measure BW peak (perftest_parameters.c). */
export const PEAK_MAX_ITERS = 20_000
/** perftest's default -n: DEF_ITERS_WB (5000) for write_bw, DEF_ITERS (1000) for every other test. */
export function defaultIters(verb: BenchVerb, kind: 'bw' | 'lat'): number {
  return kind === 'bw' && verb === 'write' ? 5000 : 1000
}
/** Most outstanding reads/atomics per QP the emulated device supports (max_qp_rd_atom, rxe's 128). */
export const MAX_OUTS = Params.defaultMaxRdAtomic

export interface BenchOptions {
  /** What the options made perftest warn about (printed on stderr; the run goes on). */
  warnings: string[]
  test: BenchTest
  verb: BenchVerb
  kind: 'bw' | 'lat'
  /** -s: bytes per operation. */
  size: number
  /** -n: operations per QP; with -D the most one QP may complete (DURATION_MAX_ITERS). */
  iters: number
  /** -D: seconds each QP runs the closed loop (instead of -n iterations); absent without -D. */
  duration?: number
  /**
   * -f/--margin: with -D, seconds dropped at each end of the run (perftest's
   * margin: duration / 4, rounded down, unless -f is given); 0 without -D.
   */
  margin: number
  /**
   * BW peak is measured (perftest's noPeak off): not with -N/--noPeak, -D, or
   * -n above PEAK_MAX_ITERS (perftest_parameters.c); peakOffReason says why not.
   */
  peak: boolean
  /** Why the peak is off when perftest prints its warning (-D, -n above 20000); absent with -N or a measured peak. */
  peakOffReason?: string
  /**
   * -o: outstanding reads/atomics per QP (max_rd_atomic, and the responder's
   * max_dest_rd_atomic), for read and atomic tests (default the device
   * maximum); absent for write and send tests, which ignore -o as perftest does.
   */
  outs?: number
  /** --odp: the server MRs are registered with IBV_ACCESS_ON_DEMAND. */
  odp: boolean
  /** -t: outstanding operations per QP. */
  txDepth: number
  /** -q: QPs, run in parallel. */
  qps: number
  /** -A: atomic operation (atomic tests only). */
  atomicType: AtomicType
  /** --report_gbits: bandwidth in Gb/sec instead of MiB/sec. */
  reportGbits: boolean
  /** --json: print JSON instead of the table. */
  json: boolean
  /**
   * Where the JSON document is also written: --out_json_file, or with
   * --out_json alone perftest's perftest_out.json in the current directory.
   */
  outJsonFile?: string
  /** --extra-columns: a -a sweep prints our wide table (clients, workers, check) instead of perftest's. */
  extraColumns: boolean
  /** --datapath: the server's data path for the run, or `compare` to measure both side by side. */
  datapath?: DataPathChoice
  /** --rounds: runs per data path with --datapath compare. */
  rounds: number
  /** -n was given (a sweep over sizes shrinks the default iterations of large sizes, never given ones). */
  itersGiven: boolean
  /** --baseline: also measure raw ZeroMQ messaging of the same size and window between the same processes. */
  baseline: boolean
  /** -a: message sizes of the sweep (2, 4, ... up to --max-size); absent without -a. */
  sizes?: number[]
  /** --clients: client-node counts of the sweep; absent when not given (one client). */
  clients?: number[]
  /** --workers: server worker-thread counts of the sweep (0 = inline); absent when not given. */
  workers?: number[]
  /** The perftest options of issue 13 item 17 (-m, -Q, -l, -e, --use-srq, ...: src/bench/perftest-options.ts). */
  perftest: PerftestSettings
  /** --cpu_util: CPU_Util[%] with -D (perftest), and every node's CPU time per operation in the JSON. */
  cpuUtil: boolean
  /** --repeat: runs on the same cluster (1: one run, no summary). */
  repeat: number
}

/** Most client nodes or server worker threads one sweep point may ask for. */
export const MAX_SWEEP_COUNT = 64

/** True when the run is a sweep (several points, CSV, JSON and SVG written). */
export function isSweep(o: BenchOptions): boolean {
  return o.sizes !== undefined || o.clients !== undefined || o.workers !== undefined
}

export const DATAPATH_CHOICES = ['inline', 'workers', 'adaptive', 'compare'] as const
export type DataPathChoice = (typeof DATAPATH_CHOICES)[number]

/** The options as commander hands them over (its property names): strings, not yet checked. */
export interface RawBenchOptions extends RawPerftestOptions {
  size?: string
  iters?: string
  txDepth?: string
  qp?: string
  atomic_type?: string
  duration?: string
  margin?: string
  noPeak?: boolean
  outs?: string
  odp?: boolean
  report_gbits?: boolean
  json?: boolean
  out_json?: boolean
  out_json_file?: string
  extraColumns?: boolean
  datapath?: string
  rounds?: string
  baseline?: boolean
  all?: boolean
  maxSize?: string
  clients?: string
  workers?: string
}

function bad(message: string): never {
  throw new EmuError(ErrorCodes.BAD_ARGUMENT, message)
}

/**
 * -s as perftest reads it (perftest_parameters.c): a trailing K (x 1024) or
 * M (x 1024 x 1024), the number in decimal or 0x hex, 1 .. UINT_MAX / 2.
 * Unlike strtol, trailing junk is refused.
 */
export function parseSize(raw: string): number | undefined {
  const m = /^\s*(0[xX][0-9a-fA-F]+|\d+)([KM]?)\s*$/.exec(raw)
  if (!m) return undefined
  const n = Number(m[1]) * (m[2] === 'K' ? 1024 : m[2] === 'M' ? 1024 * 1024 : 1)
  return Number.isSafeInteger(n) ? n : undefined
}

function sizeOption(raw: string | undefined, dflt: number): number {
  if (raw === undefined) return dflt
  const n = parseSize(raw)
  if (n === undefined || n < 1 || n > MAX_MSG_SIZE) bad(`-s/--size: expected a size 1-${MAX_MSG_SIZE} (bytes, decimal or 0x hex, optionally with K or M as perftest), got "${raw}"`)
  return n
}

/** An integer option within [min, max], or its default when absent. */
function intOption(name: string, raw: string | undefined, dflt: number, min: number, max: number): number {
  if (raw === undefined) return dflt
  const n = Number(raw)
  if (!/^\s*[-+]?\d+\s*$/.test(raw) || !Number.isSafeInteger(n) || n < min || n > max) {
    bad(`${name}: expected an integer ${min}-${max}, got "${raw}"`)
  }
  return n
}

export function parseBenchOptions(testArg: string, raw: RawBenchOptions): BenchOptions {
  // TEST: one of perftest's eight tests, by its name or its program's (ib_write_bw, ...).
  const name = testArg.startsWith('ib_') ? testArg.slice(3) : testArg
  if (!(BENCH_TESTS as readonly string[]).includes(name)) bad(`TEST: unknown test "${testArg}" (expected one of ${BENCH_TESTS.join(', ')}, or perftest's program name: ib_write_bw, ...)`)
  const test = name as BenchTest
  const [verb, kind] = test.split('_') as [BenchVerb, 'bw' | 'lat']
  const atomic = verb === 'atomic'

  // -D: a run of so many seconds instead of -n iterations; perftest refuses both at once.
  if (raw.duration !== undefined && raw.iters !== undefined) bad('-D/--duration: not with -n/--iters (a run lasts either a duration or a number of iterations)')
  // --run_infinitely: a result line every -D seconds (perftest's DEF_DURATION without -D), no margin.
  const infinite = raw.run_infinitely === true && raw.iters === undefined
  const duration = raw.duration === undefined ? (infinite ? DEF_DURATION : undefined) : intOption('-D/--duration', raw.duration, 0, 1, MAX_DURATION_SECS)

  // -s: perftest defaults (64 KiB for _bw, 2 B for _lat); atomics move exactly 8 bytes.
  let size: number
  if (atomic) {
    size = raw.size === undefined ? ATOMIC_SIZE : (parseSize(raw.size) ?? -1)
    if (size !== ATOMIC_SIZE) bad(`-s/--size: atomic tests move exactly ${ATOMIC_SIZE} bytes, got ${raw.size}`)
  } else {
    size = sizeOption(raw.size, kind === 'bw' ? 65536 : 2)
  }

  // -n: perftest defaults (5000 for write_bw, 1000 for the others), at least 5; with -D the cap that bounds the run.
  const iters = duration !== undefined ? DURATION_MAX_ITERS : intOption('-n/--iters', raw.iters, defaultIters(verb, kind), MIN_ITERS, 100_000_000)

  // -f: the margin of a -D run, at each end (perftest: duration / 4 by default; DURATION > 2 * MARGIN).
  const marginGiven = intOption('-f/--margin', raw.margin, -1, 0, MAX_DURATION_SECS)
  let margin = 0
  if (duration !== undefined && !infinite) {
    margin = marginGiven >= 0 ? marginGiven : Math.floor(duration / 4)
    if (!(duration > 2 * margin)) bad(`-f/--margin: the duration (${duration} s) must be longer than twice the margin (${margin} s)`)
  }

  // -N: no BW peak; perftest also drops it with -D and with more than 20000 iterations (bw tests).
  let peakOffReason: string | undefined
  if (kind === 'bw' && raw.noPeak !== true) {
    if (infinite) peakOffReason = '--run_infinitely'
    else if (duration !== undefined) peakOffReason = '-D'
    else if (iters > PEAK_MAX_ITERS) peakOffReason = `-n above ${PEAK_MAX_ITERS}`
  }
  const peak = kind === 'bw' && raw.noPeak !== true && peakOffReason === undefined

  // -t: perftest defaults (128 for _bw, 1 for _lat), 1 .. MAX_TX (the QP's send queue is sized to hold it).
  const txDepth = intOption('-t/--tx-depth', raw.txDepth, kind === 'bw' ? 128 : 1, 1, MAX_TX_DEPTH)

  // -q: QPs in parallel.
  const qps = intOption('-q/--qp', raw.qp, 1, 1, MAX_BENCH_QPS)

  // -A: atomic tests only.
  let atomicType: AtomicType = 'FETCH_AND_ADD'
  if (raw.atomic_type !== undefined) {
    if (!atomic) bad(`-A/--atomic_type: only applies to atomic_bw and atomic_lat, not ${test}`)
    if (!(ATOMIC_TYPES as readonly string[]).includes(raw.atomic_type)) bad(`-A/--atomic_type: expected CMP_AND_SWAP or FETCH_AND_ADD, got "${raw.atomic_type}"`)
    atomicType = raw.atomic_type as AtomicType
  }

  // -o: perftest's ctx_set_out_reads: above the device's max_qp_rd_atom warns and
  // uses the maximum; 0 or less means the maximum. Only read and atomic tests use it.
  const warnings: string[] = []
  if (raw.outs !== undefined && !(/^\s*[-+]?\d+\s*$/.test(raw.outs) && Number.isSafeInteger(Number(raw.outs)))) bad(`-o/--outs: expected an integer (outstanding reads; at most ${MAX_OUTS} are used), got "${raw.outs}"`)
  let outsGiven = raw.outs === undefined ? MAX_OUTS : Number(raw.outs)
  if (outsGiven > MAX_OUTS) {
    warnings.push(`-o/--outs: number of outstanding reads is above max = ${MAX_OUTS}; changing to that max value`)
    outsGiven = MAX_OUTS
  } else if (outsGiven <= 0) outsGiven = MAX_OUTS
  const outs = verb === 'read' || verb === 'atomic' ? outsGiven : undefined

  // --out_json_file: a non-empty path.
  if (raw.out_json_file !== undefined && raw.out_json_file.trim() === '') bad('--out_json_file: expected a file path')

  // --datapath: inline, workers or compare; --rounds only with compare.
  if (raw.datapath !== undefined && !(DATAPATH_CHOICES as readonly string[]).includes(raw.datapath)) {
    bad(`--datapath: expected one of ${DATAPATH_CHOICES.join(', ')}, got "${raw.datapath}"`)
  }
  const datapath = raw.datapath as DataPathChoice | undefined
  if (raw.rounds !== undefined && datapath !== 'compare') bad('--rounds: only applies with --datapath compare')
  const rounds = intOption('--rounds', raw.rounds, 3, 1, 100)

  // -a: sizes 2^1 .. 2^23 (perftest), bounded by --max-size (or by -s when it is given alone).
  let sizes: number[] | undefined
  if (raw.maxSize !== undefined && raw.all !== true) bad('--max-size: only applies with -a/--all')
  if (raw.all === true) {
    if (atomic) bad(`-a/--all: atomic tests move exactly ${ATOMIC_SIZE} bytes; sweep --clients or --workers instead`)
    const maxRaw = raw.maxSize ?? raw.size
    const max = maxRaw === undefined ? MAX_BENCH_SIZE : (parseSize(maxRaw) ?? -1)
    if (max < 2 || max > MAX_BENCH_SIZE) bad(`${raw.maxSize !== undefined ? '--max-size' : '-s/--size'}: with -a, expected a size 2-${MAX_BENCH_SIZE}, got "${maxRaw}"`)
    sizes = []
    for (let s = 2; s <= max; s *= 2) sizes.push(s)
  }

  // --clients / --workers: N sweeps 1..N clients / 0..N workers (0 = inline); a comma-separated list runs exactly those counts.
  const clients = countList('--clients', raw.clients, 1)
  const workers = countList('--workers', raw.workers, 0)
  if (workers !== undefined && datapath !== undefined) bad('--workers: sets the server data path itself; drop --datapath')

  // --extra-columns: only a sweep has the wide table.
  if (raw.extraColumns === true && sizes === undefined && clients === undefined && workers === undefined) bad('--extra-columns: only applies to a sweep (-a, --clients, --workers)')

  // --baseline: one raw ZeroMQ run beside each emulated run; not with the data-path comparison.
  const baseline = raw.baseline === true
  if (baseline && datapath === 'compare') bad('--baseline: not with --datapath compare')
  if (datapath === 'compare' && (sizes || clients || workers)) bad('--datapath compare: not with a sweep (-a, --clients, --workers)')

  // Issue 13 item 17: perftest's -m -c -Q -l -e -r -u -I -w -p --use-srq ... (their own rules).
  const perftest = parsePerftestOptions(raw, { test, verb, kind, iters, itersGiven: raw.iters !== undefined, txDepth, duration }, warnings)

  if (perftest.useSrq && (qps > 1 || clients !== undefined)) bad('--use-srq: with one QP only for now (not with -q above 1 or --clients): the data check keeps one receive target per QP')
  // --cpu_util: perftest measures CPU utilisation in duration mode only (it warns otherwise).
  const cpuUtil = raw.cpu_util === true
  if (cpuUtil && duration === undefined) warnings.push('CPU Utilization works only with Duration mode. (CPU_Util[%] is printed with -D; the JSON still has every node\'s CPU time per operation)')
  // --repeat: N runs on the same cluster, median with min and max.
  const repeat = intOption('--repeat', raw.repeat, 1, 1, MAX_REPEAT)
  if (repeat > 1 && (sizes || clients || workers || datapath === 'compare')) bad('--repeat: not with a sweep (-a, --clients, --workers) or --datapath compare')
  if (repeat > 1 && perftest.runInfinitely) bad('--repeat: not with --run_infinitely')

  return {
    perftest, cpuUtil, repeat,
    warnings, test, verb, kind, size, iters, duration, margin, peak, ...(peakOffReason !== undefined ? { peakOffReason } : {}), outs, txDepth, qps, atomicType, datapath, rounds, baseline, sizes, clients, workers,
    odp: raw.odp === true,
    itersGiven: raw.iters !== undefined,
    reportGbits: raw.report_gbits === true,
    json: raw.json === true,
    // perftest writes the file only with --out_json (--out_json_file just names it); here naming it is enough.
    outJsonFile: raw.out_json_file ?? (raw.out_json === true ? DEFAULT_JSON_FILE_NAME : undefined),
    extraColumns: raw.extraColumns === true,
  }
}

/**
 * A count option of a sweep: "N" means every count from `min` (1 client, 0 workers
 * = inline) up to N; "a,b,c" exactly those counts (sorted, without repeats).
 */
function countList(name: string, raw: string | undefined, min: number): number[] | undefined {
  if (raw === undefined) return undefined
  const counts = raw.split(',').map((p) => intOption(name, p, 0, min, MAX_SWEEP_COUNT))
  if (counts.length === 1) return Array.from({ length: counts[0]! - min + 1 }, (_, i) => min + i)
  return [...new Set(counts)].sort((a, b) => a - b)
}
