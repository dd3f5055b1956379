/**
 * The perftest options users reach for (issue 13, item 17), as `rdma-emu
 * bench` takes them: one table with each option's commander flags and help,
 * the perftest options not supported yet (each exits 2 naming itself), and
 * the rules that turn them into PerftestSettings. Limits are perftest's own
 * (src/perftest_parameters.h, src/perftest_parameters.c).
 */
import { Option, type Command } from 'commander'
import { EmuError, ErrorCodes } from '../errors.ts'
import { Params } from '../params.ts'
import { DEFAULT_CONFIG_PATH } from '../config/load-config.ts'

/** perftest's connection types (connStr in perftest_parameters.c); only RC is emulated. */
export const CONNECTION_TYPES = ['RC', 'UC', 'UD', 'RawEth', 'XRC', 'DC', 'SRD'] as const
/** MAX_INLINE, perftest_parameters.h. */
export const MAX_INLINE = 1024
/** MIN_CQ_MOD / MAX_CQ_MOD. */
export const MIN_CQ_MOD = 1
export const MAX_CQ_MOD = 1024
/** MIN_RX / MAX_RX, and DEF_RX_SEND / DEF_RX_RDMA. */
export const MIN_RX = 1
export const MAX_RX = 16384
export const DEF_RX_SEND = 512
export const DEF_RX_RDMA = 1
/** MAX_GID_IX. */
export const MAX_GID_IX = 64
/** DEF_PORT: perftest's TCP port; here the CM port of the server's listener. */
export const DEF_PORT = 18515
/** DEF_QP_TIME. */
export const DEF_QP_TIME = 14
/** DEF_DURATION: seconds per result line of --run_infinitely when -D is not given. */
export const DEF_DURATION = 5
/** --repeat bounds. */
export const MAX_REPEAT = 100

/** What the perftest options asked for, checked, with perftest's defaults. */
export interface PerftestSettings {
  /** -d: perftest's device name; no meaning here (one emulated device per node), reported in the banner. */
  ibDev?: string
  /** -i: IB port; no meaning here (one port), reported. */
  ibPort?: number
  /** -x: GID index; no meaning here, reported. */
  gidIndex?: number
  /** -F: no CPU-frequency warning; accepted (the emulator does not read the CPU frequency). */
  cpuFreqF: boolean
  /** -m: the QPs' path MTU (bytes); absent: the device's (Params.defaultMtu). */
  mtu?: number
  /** -c: the connection type (RC only). */
  connection: 'RC'
  /** -R: connect through rdma_cm (the bench always does: reported). */
  rdmaCm: boolean
  /** -I: inline size asked for (absent: perftest's default); accepted, reported (no separate inline path here). */
  inlineSize?: number
  /** -l: WRs per ibv_post_send call (1 = one at a time). */
  postList: number
  /** -Q: signal every cqMod-th WR (1 = every WR, the emulator's default without -Q). */
  cqMod: number
  /** -r: receives kept posted per QP by the server (send tests). */
  rxDepth?: number
  /** -u: the QPs' local ACK timeout exponent (4.096 us x 2^timeout). */
  qpTimeout?: number
  /** -H: print every latency sample, sorted (perftest's histogram lines), before the table. */
  histogram: boolean
  /** -U: print every latency sample unsorted (implies the list). */
  unsorted: boolean
  /** -w: BW_average below this (report units) fails the run, as perftest's verifier limit. */
  limitBw?: number
  /** -e: wait for completions on a completion channel instead of polling. */
  events: boolean
  /** -p: the CM port of the server's listener. */
  port: number
  /** --run_infinitely: a result line every duration (-D, default 5 s) until SIGINT. */
  runInfinitely: boolean
  /** --report-both: accepted; it only matters with -b (bidirectional), which is not supported. */
  reportBoth: boolean
  /** --use-srq: the server's QPs take their receives from one shared receive queue (send tests). */
  useSrq: boolean
  /** --perform_warm_up: an untimed run before the measured one. */
  performWarmUp: boolean
}

/** The item-17 options as commander hands them over (its property names). */
export interface RawPerftestOptions {
  ibDev?: string
  ibPort?: string
  gidIndex?: string
  CPUFreq?: boolean
  mtu?: string
  connection?: string
  rdma_cm?: boolean
  inline_size?: string
  post_list?: string
  cqMod?: string
  rxDepth?: string
  qpTimeout?: string
  reportCycles?: boolean
  reportHistogram?: boolean
  reportHistogrm?: boolean
  reportUnsorted?: boolean
  limit_bw?: string
  events?: boolean
  port?: string
  run_infinitely?: boolean
  reportBoth?: boolean
  useSrq?: boolean
  cpu_util?: boolean
  perform_warm_up?: boolean
  repeat?: string
}

/** The item-17 options: flags and help, in perftest's order of -h. */
const SUPPORTED: Array<[flags: string, help: string]> = [
  ['-p, --port <port>', `the CM port the server listens on (default ${DEF_PORT}, perftest's port)`],
  ['-d, --ib-dev <dev>', 'perftest device name: accepted and reported (each node has one emulated device)'],
  ['-i, --ib-port <port>', 'IB port: accepted and reported (the emulated device has one port)'],
  ['-m, --mtu <mtu>', `path MTU of the QPs: ${Params.mtus.join(', ')} (default ${Params.defaultMtu}, the port MTU)`],
  ['-c, --config <file|type>', `cluster configuration file (default: ${DEFAULT_CONFIG_PATH}); or perftest's -c connection type: RC (${CONNECTION_TYPES.slice(1).join(', ')} exit 2: not supported yet)`],
  ['--connection <type>', 'perftest -c: connection type, RC only'],
  ['-x, --gid-index <index>', `GID index 0-${MAX_GID_IX}: accepted and reported (no GID table here)`],
  ['-F, --CPU-freq', 'no warning on a CPU frequency mismatch: accepted (the emulator does not read the CPU frequency)'],
  ['-R, --rdma_cm', 'connect the QPs with rdma_cm: the bench always connects through the emulated CM (reported)'],
  ['-I, --inline_size <bytes>', `max inline data 0-${MAX_INLINE}: accepted and reported; not with read and atomic tests (perftest)`],
  ['-l, --post_list <n>', 'post lists of n WRs per post_send call (bw tests; -n a multiple of n; without -Q, signals every n-th WR as perftest)'],
  ['-Q, --cq-mod <n>', `CQ moderation: signal every n-th WR, ${MIN_CQ_MOD}-${MAX_CQ_MOD}, at most -t (default: every WR)`],
  ['-r, --rx-depth <n>', `receives the server keeps posted per QP, ${MIN_RX}-${MAX_RX} (send tests; default ${DEF_RX_SEND}; RDMA tests only 1)`],
  ['-u, --qp-timeout <t>', `QP local ACK timeout: 4.096 us x 2^t, 0-31 (default ${DEF_QP_TIME})`],
  ['-C, --report-cycles', 'perftest: latency in CPU cycles; exits 2 here (no cycle counter: latencies are measured in microseconds)'],
  ['-H, --report-histogram', 'lat tests: print every latency sample, sorted (perftest\'s "#, usec" lines), before the table'],
  ['-U, --report-unsorted', 'lat tests: print every latency sample in completion order (implies -H)'],
  ['-w, --limit_bw <value>', 'bw tests: fail (exit 1, "BW result is below bw limit") when BW average is below value (report units)'],
  ['-e, --events', 'wait for completions on a completion channel (ibv_req_notify_cq) instead of polling; not with write tests (perftest)'],
  ['--run_infinitely', `bw tests: print a result line every -D seconds (default ${DEF_DURATION}) until interrupted (SIGINT); no BW peak`],
  ['--report-both', 'accepted: only changes -b (bidirectional) runs, which rdma-emu does not support yet'],
  ['--use-srq', 'send tests: the server QPs take their receives from one shared receive queue (SRQ)'],
  ['--cpu_util', 'with -D: CPU_Util[%] of the client node process over the measured window, as perftest; JSON: every node\'s CPU time per operation'],
  ['--perform_warm_up', 'an untimed warm-up run before the measured one (read, write and atomic bw tests, as perftest)'],
  ['--repeat <n>', `beyond perftest: run ${'n'} times (1-${MAX_REPEAT}) on the same cluster; print the median with min and max (emulator, baseline, ratio)`],
]

/**
 * perftest options (perftest_parameters.c long_options) rdma-emu bench does
 * not support yet: [flags, takes a value]. Each exits 2 naming itself.
 * Not listed: the ones bench has (-s -n -t -q -A -D -f -N -o -a --odp
 * --report_gbits --out_json_file ...) and --out_json (the output options).
 */
const UNSUPPORTED: Array<[flags: string, hasArg: boolean]> = [
  ['-S, --sl', true], ['-X, --vector', true], ['-g, --mcg', false], ['-z, --comm_rdma_cm', false], ['-T, --tos', true],
  ['-L, --hop_limit', true], ['-M, --MGID', true], ['-b, --bidirectional', false], ['-V, --version', false], ['-O, --dualport', false],
  ['-B, --source_mac', true], ['-E, --dest_mac', true], ['-J, --dest_ip', true], ['-j, --source_ip', true], ['-K, --dest_port', true],
  ['-k, --source_port', true], ['-Y, --ethertype', true], ['-y, --limit_msgrate', true], ['-Z, --server', false], ['-P, --client', false],
  ['-v, --mac_fwd', false], ['-G, --use_rss', false], ['-W, --report-counters', true],
  ['--force-link', true], ['--remote_mac', true], ['--local_mac', true], ['--remote_ip', true], ['--local_ip', true], ['--remote_port', true],
  ['--local_port', true], ['--no_lock', false], ['--use-null-mr', false], ['--reversed', false], ['--pkey_index', true], ['--tcp', false],
  ['--burst_size', true], ['--typical_pkt_size', true], ['--rate_limit', true], ['--rate_limit_type', true], ['--rate_units', true],
  ['--output', true], ['--latency_gap', true], ['--flow_label', true], ['--retry_count', true], ['--dont_xchg_versions', false],
  ['--payload_file_path', true], ['--use_cuda', true], ['--use_cuda_bus_id', true], ['--use_cuda_dmabuf', false], ['--use_cuda_pcie_mapping', false],
  ['--use_data_direct', false], ['--cuda_mem_type', true], ['--use_musa', true], ['--use_musa_bus_id', true], ['--use_musa_dmabuf', false],
  ['--use_musa_pcie_mapping', false], ['--use_rocm', true], ['--use_rocm_dmabuf', false], ['--use_neuron', true], ['--use_neuron_dmabuf', false],
  ['--use_hl', true], ['--use_mlu', true], ['--use_mlu_dmabuf', false], ['--use_opencl', true], ['--opencl_platform_id', true],
  ['--use_ib_dm_dmabuf', true], ['--gpu_touch', true], ['--mmap', true], ['--mmap-offset', true], ['--ipv6', false], ['--ipv6-addr', false],
  ['--raw_ipv6', false], ['--report-per-port', false], ['--use_hugepages', false], ['--use_old_post_send', false], ['--promiscuous', false],
  ['--sniffer', false], ['--raw_mcast', false], ['--mr_per_qp', false], ['--dlid', true], ['--tclass', true], ['--wait_destroy', true],
  ['--flows', true], ['--flows_burst', true], ['--reply_every', true], ['--vlan_en', false], ['--vlan_pcp', true], ['--recv_post_list', true],
  ['--aes_xts', false], ['--encrypt_on_tx', false], ['--sig_before', false], ['--aes_block_size', true], ['--kek_path', true],
  ['--credentials_path', true], ['--data_enc_keys_number', true], ['--data_enc_key_app_path', true], ['--log_dci_streams', true],
  ['--log_active_dci_streams', true], ['--disable_pcie_relaxed', false], ['--use_ooo', false], ['--congest_type', true], ['--bind_source_ip', true],
  ['--write_with_imm', false], ['--send_with_imm', false], ['--no_enhanced_reorder', false], ['--unsolicited_write', false],
  ['--connectionless', false], ['--cqe_poll', true], ['--tph_mem', true], ['--cpu_id', true], ['--ph', true],
  ['--disable_dynamic_polling', false], ['--sig_offload', false], ['--data_validation', false], ['--data_validation_debug', false],
  ['--pin_cores', true], ['--numa_node', true], ['--disable_numa', false],
]

/** The perftest options rdma-emu bench refuses, and whether each takes a value (for tests and the README). */
export const UNSUPPORTED_OPTIONS: ReadonlyArray<readonly [flags: string, hasArg: boolean]> = UNSUPPORTED

function bad(message: string): never {
  throw new EmuError(ErrorCodes.BAD_ARGUMENT, message)
}

/** Add the item-17 options, --repeat, and the refusing unsupported ones to the bench command. */
export function addPerftestOptions(cmd: Command): void {
  for (const [flags, help] of SUPPORTED) {
    const opt = new Option(flags, help)
    if (flags.startsWith('-c,')) opt.argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), v])
    cmd.addOption(opt)
  }
  // perftest's own spelling of -H's long name.
  cmd.addOption(new Option('--report-histogrm').hideHelp())
  for (const [flags, hasArg] of UNSUPPORTED) {
    const opt = new Option(hasArg ? `${flags} <value>` : flags).hideHelp()
    cmd.addOption(opt)
    cmd.on(`option:${opt.name()}`, () => bad(`${flags}: perftest's option is not supported by rdma-emu bench yet`))
  }
}

/**
 * -c as bench takes it: each value is either perftest's connection type
 * (RC, UC, UD, ...) or the cluster configuration file. Returns the file (the
 * last one given, else `dflt`) and the connection type (absent when none).
 */
export function splitConfigOption(values: string | string[] | undefined, dflt: string): { config: string; connection?: string } {
  const list = values === undefined ? [] : Array.isArray(values) ? values : [values]
  const conns = list.filter((v) => (CONNECTION_TYPES as readonly string[]).includes(v))
  const files = list.filter((v) => !(CONNECTION_TYPES as readonly string[]).includes(v))
  return { config: files.at(-1) ?? dflt, ...(conns.length > 0 ? { connection: conns.at(-1)! } : {}) }
}

/** An integer option within [min, max], or undefined when absent. */
function int(name: string, raw: string | undefined, min: number, max: number): number | undefined {
  if (raw === undefined) return undefined
  const n = Number(raw)
  if (!/^\s*[-+]?\d+\s*$/.test(raw) || !Number.isSafeInteger(n) || n < min || n > max) bad(`${name}: expected an integer ${min}-${max}, got "${raw}"`)
  return n
}

/** The test an option set is checked against. */
export interface PerftestTest {
  test: string
  verb: 'write' | 'read' | 'send' | 'atomic'
  kind: 'bw' | 'lat'
  iters: number
  itersGiven: boolean
  txDepth: number
  duration?: number
}

/** perftest's rules for the item-17 options; `warnings` gets what perftest only warns about. */
export function parsePerftestOptions(raw: RawPerftestOptions, t: PerftestTest, warnings: string[]): PerftestSettings {
  const { verb, kind } = t
  if (raw.reportCycles === true) bad('-C/--report-cycles: not supported: the emulator has no cycle counter to report (its clock is performance.now(), in microseconds); drop -C to get latencies in usec')

  const conn = raw.connection
  if (conn !== undefined && conn !== 'RC') {
    if ((CONNECTION_TYPES as readonly string[]).includes(conn)) bad(`-c/--connection: ${conn} is not supported yet (rdma-emu emulates RC QPs only)`)
    bad(`-c/--connection: expected a connection type (${CONNECTION_TYPES.join(', ')}), got "${conn}"`)
  }

  const mtu = int('-m/--mtu', raw.mtu, 0, 65535)
  if (mtu !== undefined && !(Params.mtus as readonly number[]).includes(mtu)) bad(`-m/--mtu: expected one of ${Params.mtus.join(', ')}, got "${raw.mtu}"`)

  const ibPort = int('-i/--ib-port', raw.ibPort, 1, 255)
  const gidIndex = int('-x/--gid-index', raw.gidIndex, 0, MAX_GID_IX)
  if (raw.ibDev !== undefined && raw.ibDev.trim() === '') bad('-d/--ib-dev: expected a device name')

  const inlineSize = int('-I/--inline_size', raw.inline_size, 0, MAX_INLINE)
  if (inlineSize !== undefined && (verb === 'read' || verb === 'atomic')) bad(`-I/--inline_size: inline is not available on READ/Atomic verbs (perftest), not with ${t.test}`)

  const postListGiven = int('-l/--post_list', raw.post_list, 1, 15000)
  const cqModGiven = int('-Q/--cq-mod', raw.cqMod, MIN_CQ_MOD, MAX_CQ_MOD)
  if (cqModGiven !== undefined && kind === 'lat') bad(`-Q/--cq-mod: CQ moderation applies to bw tests, not ${t.test} (every latency operation is signaled)`)
  const postList = postListGiven ?? 1
  let cqMod = cqModGiven ?? 1
  if (postList > 1) {
    if (kind === 'lat') bad(`-l/--post_list: post lists apply to bw tests, not ${t.test}`)
    if (postList > t.txDepth) bad(`-l/--post_list: the post list size (${postList}) must be at most the tx depth (-t ${t.txDepth})`)
    if (t.duration === undefined && t.iters % postList !== 0) bad(`-l/--post_list: the number of iterations (${t.iters}) must be a multiple of the post list size (${postList})`)
    if (cqModGiven === undefined) {
      cqMod = postList
      warnings.push('Post List requested - CQ moderation will be the size of the post list')
    } else if (postList % cqModGiven !== 0) bad(`-l/--post_list: the post list size (${postList}) must be a multiple of the CQ moderation (-Q ${cqModGiven})`)
  }
  if (cqMod > t.txDepth) cqMod = t.txDepth

  const rxDepth = int('-r/--rx-depth', raw.rxDepth, MIN_RX, MAX_RX)
  if (rxDepth !== undefined && verb !== 'send' && verb !== 'write' && rxDepth > DEF_RX_RDMA) bad(`-r/--rx-depth: on RDMA verbs rx depth can be only 1 (perftest), not with ${t.test}`)
  if (rxDepth !== undefined && verb === 'send' && t.duration === undefined && rxDepth < Math.min(t.txDepth, t.iters)) {
    bad(`-r/--rx-depth: ${rxDepth} receives cannot cover the ${Math.min(t.txDepth, t.iters)} sends in flight (-t); give at least -t`)
  }

  const qpTimeout = int('-u/--qp-timeout', raw.qpTimeout, 0, 31)

  const histogram = raw.reportHistogram === true || raw.reportHistogrm === true
  const unsorted = raw.reportUnsorted === true
  if ((histogram || unsorted) && kind === 'bw') bad(`${unsorted ? '-U/--report-unsorted' : '-H/--report-histogram'}: available only on latency tests, not ${t.test}`)

  let limitBw: number | undefined
  if (raw.limit_bw !== undefined) {
    if (kind !== 'bw') bad(`-w/--limit_bw: a bandwidth limit applies to bw tests, not ${t.test}`)
    limitBw = Number(raw.limit_bw)
    if (!/^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$/.test(raw.limit_bw) || !Number.isFinite(limitBw) || limitBw < 0) bad(`-w/--limit_bw: expected a bandwidth >= 0 in the report's units, got "${raw.limit_bw}"`)
  }

  const events = raw.events === true
  if (events && verb === 'write') bad(`-e/--events: events feature not available on WRITE verb (perftest), not with ${t.test}`)

  const port = int('-p/--port', raw.port, 1, 65535) ?? DEF_PORT

  const runInfinitely = raw.run_infinitely === true
  if (runInfinitely) {
    if (kind !== 'bw') bad(`--run_infinitely: exists only in bw tests (perftest), not ${t.test}`)
    if (events) bad('--run_infinitely: does not support the events feature (-e) yet (perftest)')
    if (t.itersGiven) bad('--run_infinitely: not with -n (each result line covers -D seconds)')
  }

  const useSrq = raw.useSrq === true
  if (useSrq && verb !== 'send') bad(`--use-srq: using an SRQ is only available in SEND tests (perftest), not ${t.test}`)
  // send_lat is a ping-pong of two live loops (src/verbs/pingpong.ts) that poll and keep their own receives.
  if (kind === 'lat' && verb === 'send') {
    const which = useSrq ? '--use-srq' : events ? '-e/--events' : rxDepth !== undefined ? '-r/--rx-depth' : undefined
    if (which) bad(`${which}: not supported yet with send_lat (its ping-pong loops poll, and keep their own receives posted)`)
  }

  const performWarmUp = raw.perform_warm_up === true
  if (performWarmUp && !(kind === 'bw' && verb !== 'send')) bad(`--perform_warm_up: valid in atomic, read and write bw tests (perftest), not ${t.test}`)

  return {
    ...(raw.ibDev !== undefined ? { ibDev: raw.ibDev } : {}),
    ...(ibPort !== undefined ? { ibPort } : {}),
    ...(gidIndex !== undefined ? { gidIndex } : {}),
    ...(mtu !== undefined ? { mtu } : {}),
    ...(inlineSize !== undefined ? { inlineSize } : {}),
    ...(rxDepth !== undefined ? { rxDepth } : {}),
    ...(qpTimeout !== undefined ? { qpTimeout } : {}),
    ...(limitBw !== undefined ? { limitBw } : {}),
    cpuFreqF: raw.CPUFreq === true,
    connection: 'RC',
    rdmaCm: raw.rdma_cm === true,
    postList, cqMod, histogram: histogram || unsorted, unsorted, events, port, runInfinitely, useSrq, performWarmUp,
    reportBoth: raw.reportBoth === true,
  }
}

/** The banner lines of the options that only get reported (device, port, GID, -F, -R, -I ...); empty when none was given. */
export function perftestBannerLines(p: PerftestSettings): string[] {
  const lines: string[] = []
  const put = (label: string, text: string) => lines.push(` ${label.padEnd(16)}: ${text}`)
  if (p.ibDev !== undefined) put('Device', `${p.ibDev} (accepted: each node has one emulated device)`)
  if (p.ibPort !== undefined) put('IB port', `${p.ibPort} (accepted: the emulated device has one port)`)
  if (p.gidIndex !== undefined) put('GID index', `${p.gidIndex} (accepted: no GID table here)`)
  if (p.cpuFreqF) put('CPU freq check', 'off (-F; the emulator does not read the CPU frequency)')
  if (p.rdmaCm) put('rdma_cm', 'yes (-R; the bench always connects through the emulated CM)')
  if (p.mtu !== undefined) put('Mtu', `${p.mtu}[B] (-m)`)
  if (p.inlineSize !== undefined) put('Max inline data', `${p.inlineSize}[B] (-I: accepted; no separate inline path in the emulator)`)
  if (p.postList > 1) put('Post List', String(p.postList))
  if (p.rxDepth !== undefined) put('RX depth', String(p.rxDepth))
  if (p.qpTimeout !== undefined) put('QP timeout', `${p.qpTimeout} (4.096 us x 2^${p.qpTimeout})`)
  if (p.events) put('Using Events', 'ON (completion channel)')
  if (p.port !== DEF_PORT) put('CM port', String(p.port))
  if (p.reportBoth) put('Report both', 'accepted (only changes -b runs, not supported)')
  if (p.performWarmUp) put('Warm-up', 'an untimed run before the measured one')
  if (p.limitBw !== undefined) put('BW limit', `${p.limitBw} (-w)`)
  return lines
}
