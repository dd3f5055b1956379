/**
 * rdma-emu bench TEST: perftest's tests on an emulated cluster. Launches the
 * cluster from the config (first server = target, first client(s) = load
 * generators), runs, checks the data, prints perftest's table or JSON, tears
 * down; or, with --attach, joins a cluster `rdma-emu up` keeps running and
 * leaves it running (and clean). --baseline adds raw ZeroMQ between the same
 * processes and the ratio; -a, --clients and --workers make a sweep (CSV,
 * JSON, SVG in the run directory). Exit 0 ok, 1 a failed completion or data
 * check (or an unreachable attached cluster), 2 bad options.
 */
import { mkdirSync, statSync, writeFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import type { Command } from 'commander'
import { BENCH_TESTS, DEFAULT_JSON_FILE_NAME, DURATION_MAX_ITERS, MAX_DURATION_SECS, MAX_OUTS, isSweep, parseBenchOptions, type BenchOptions, type RawBenchOptions } from '../bench/bench-options.ts'
import type { ClusterConfig } from '../config/defaults.ts'
import { loadConfig } from '../config/load-config.ts'
import { EmuError, ErrorCodes, ExitCode } from '../errors.ts'
import type { ControlPlane } from '../../fabric/control-plane.ts'
import type { ClusterFileNode } from '../launcher/attach-cluster.ts'
import type { RepeatRun } from '../bench/repeat.ts'
import { DEFAULT_CONFIG_PATH } from '../config/load-config.ts'
import { addPerftestOptions, splitConfigOption } from '../bench/perftest-options.ts'
import { displayPath, runDirOption } from './options.ts'

/** Commander's options: the bench options plus the cluster ones. */
interface BenchCliOpts extends RawBenchOptions {
  /** -c: the configuration file, or perftest's connection type (splitConfigOption). */
  config?: string[]
  runDir?: string
  attach?: string
  pcap?: string
}

/** The cluster a bench runs on: launched for the run, or attached to. */
interface BenchCluster {
  control: ControlPlane
  /** Where sweep files go (and what the report names). */
  runDir: string
  /** Rejects when a node fails during the run. */
  failed: Promise<never>
  /** Launched: tear down. Attached: leave (the cluster keeps running). */
  close(): Promise<void>
}

export function register(program: Command): void {
  const cmd = program
    .command('bench')
    .description('run a perftest test (ib_write_bw, ib_read_lat, ...) on the emulated cluster')
    .argument('<test>', `one of ${BENCH_TESTS.join(', ')}, or perftest's program name (ib_write_bw, ...; also installed as commands)`)
    .addOption(runDirOption())
    .option('-s, --size <bytes>', 'bytes per operation: decimal or 0x hex, with K or M as perftest (64K, 1M), at most 2147483647 (default 65536 for _bw, 2 for _lat, 8 for atomics)')
    .option('-n, --iters <n>', 'operations per QP, at least 5 (default 5000 for write_bw, 1000 for the other tests, as perftest); #iterations reports -n x QPs')
    .option('-t, --tx-depth <n>', 'outstanding operations per QP, 1-15000 as perftest (default 128 for _bw, 1 for _lat)')
    .option('-q, --qp <n>', 'QPs, run in parallel (default 1)')
    .option('-A, --atomic_type <type>', 'CMP_AND_SWAP or FETCH_AND_ADD (default FETCH_AND_ADD)')
    .option('-D, --duration <secs>', `run each QP for this many seconds instead of -n iterations (1-${MAX_DURATION_SECS}; not with -n); #iterations / n_iterations then reports the operations completed between the margins (-f), summed over every QP (each QP stops at ${DURATION_MAX_ITERS}); no BW peak`)
    .option('-f, --margin <secs>', 'with -D: seconds dropped at each end of the run before measuring (default duration / 4, as perftest); the duration must exceed twice the margin')
    .option('-N, --noPeak', 'do not measure BW peak (reported as 0); perftest also drops it with -D and with -n above 20000')
    .option('-o, --outs <n>', `outstanding reads/atomics per QP: the QP's max_rd_atomic and the server QP's max_dest_rd_atomic (default ${MAX_OUTS}, the device maximum; 0 or less means the maximum, above it warns and uses the maximum, as perftest); read and atomic tests only, ignored by the others as perftest does`)
    .option('--odp', 'register the server MRs with IBV_ACCESS_ON_DEMAND (on-demand paging: no page pins)')
    .option('--attach <run-dir|cluster.json>', 'run on a cluster `rdma-emu up` keeps running (its run directory or cluster.json) instead of launching one; -c is not read, the cluster is left running')
    .option('--pcap <file>', 'capture every data-plane packet of the run to this pcap file (RoCEv2: opens in Wireshark); not with --attach')
    .option('--report_gbits', 'report bandwidth in Gb/sec instead of MiB/sec')
    .option('--json', "print the JSON document (perftest's test_info and results, our figures under rdma_emu) instead of the table")
    .option('--out_json', `also write the JSON document to ${DEFAULT_JSON_FILE_NAME} in the current directory, as perftest`)
    .option('--out_json_file <file>', `write the JSON document to this file instead of ${DEFAULT_JSON_FILE_NAME} (implies --out_json; perftest needs both)`)
    .option('--datapath <mode>', 'server data path: inline, workers (always offload), adaptive (the default), or compare (inline and workers side by side, in one run)')
    .option('--rounds <n>', 'with --datapath compare: runs per data path (default 3)')
    .option('--baseline', 'also run raw ZeroMQ messaging of the same size and window between the same processes; print both and the ratio')
    .option('-a, --all', 'sweep message sizes 2, 4, ... 2^23 (perftest -a); CSV, JSON and SVG in the run directory')
    .option('--extra-columns', "with a -a sweep: print one wide table with our columns (clients, workers, check) instead of perftest's")
    .option('--max-size <bytes>', 'with -a: largest size of the sweep (default 8388608)')
    .option('--clients <n|list>', 'client nodes driving one server: N sweeps 1..N, or a list like 1,2,4 (the config needs that many clients)')
    .option('--workers <n|list>', 'server worker threads: N sweeps 0..N (0 = inline data path), or a list like 1,2')
  // perftest's -d -i -m -c -x -R -F -I -l -Q -r -u -C -H -U -w -e -p ..., --repeat, and the refused ones.
  addPerftestOptions(cmd)
  cmd.action(async (test: string, opts: BenchCliOpts) => {
    process.exitCode = await bench(test, opts)
  })
}

async function bench(test: string, cli: BenchCliOpts): Promise<number> {
  const split = splitConfigOption(cli.config, DEFAULT_CONFIG_PATH)
  const configPath = split.config
  const o = parseBenchOptions(test, { ...cli, connection: cli.connection ?? split.connection })
  for (const w of o.warnings) process.stderr.write(` WARNING: ${w}\n`)
  if (o.outJsonFile !== undefined) checkJsonTarget(o.outJsonFile)
  // The nodes: from the configuration (a launched cluster), or from the cluster.json of a running `up`.
  let nodes: Array<Pick<ClusterFileNode, 'id' | 'role'>>
  let source: string
  let attachFile: import('../launcher/attach-cluster.ts').ClusterFile | undefined
  if (cli.attach !== undefined && cli.pcap !== undefined) {
    throw new EmuError(ErrorCodes.BAD_ARGUMENT, '--pcap: not with --attach (the attached cluster is already running: start it with `rdma-emu up --pcap FILE`)')
  }
  if (cli.attach !== undefined) {
    const { readClusterFile } = await import('../launcher/attach-cluster.ts')
    attachFile = readClusterFile(cli.attach)
    nodes = attachFile.nodes
    source = displayPath(attachFile.file)
  } else {
    nodes = loadConfig(configPath).nodes
    source = configPath
  }
  const server = nodes.find((n) => n.role === 'server')
  const clientNodes = nodes.filter((n) => n.role === 'client')
  const client = clientNodes[0]
  if (!server || !client) {
    throw new EmuError(ErrorCodes.BAD_ARGUMENT, `${cli.attach !== undefined ? '--attach: ' : ''}${source}: bench needs at least one server node and one client node`)
  }
  const clientsNeeded = Math.max(...(o.clients ?? [1]))
  if (clientsNeeded > clientNodes.length) {
    throw new EmuError(
      ErrorCodes.BAD_ARGUMENT,
      `--clients: ${clientsNeeded} client nodes asked for, but ${source} has ${clientNodes.length} (${clientNodes.map((n) => n.id).join(', ')}); add client nodes to the configuration or ask for fewer`,
    )
  }
  // Loaded on use, so `--help` and option errors are fast.
  const { runBench } = await import('../bench/run-bench.ts')
  const { benchExtras, benchJsonText, formatBaseline, formatReport } = await import('../bench/perftest-format.ts')
  const { nodeGid } = await import('../bench/perftest-banner.ts')
  const gids = { local: nodeGid(nodes.indexOf(client)), remote: nodeGid(nodes.indexOf(server)) }
  const { limitBwFailure, perftestExtrasJson, sampleLines } = await import('../bench/perftest-report.ts')
  const { formatRepeat, repeatSummary } = await import('../bench/repeat.ts')
  const { formatCpu, withBaselineCpu } = await import('../bench/cpu-util.ts')
  const { compareDataPaths, formatComparison, setDataPath } = await import('../bench/datapath-compare.ts')
  const { WARMUP_ITERS, baselineOptions, runBaseline, warmUp } = await import('../bench/baseline.ts')
  const { BenchProgress, expectedServerPackets, progressWanted, watchRun } = await import('../bench/progress.ts')

  let cluster: BenchCluster | undefined
  let progress: InstanceType<typeof BenchProgress> | undefined
  let restoreDataPath: (() => Promise<void>) | undefined
  try {
    cluster = attachFile ? await attached(attachFile, cli.runDir) : await launched(loadConfig(configPath), cli.runDir, cli.pcap)
    const { control, failed } = cluster
    const clientIds = clientNodes.map((n) => n.id)
    // An attached cluster outlives the run: give its server back the data path it had.
    if (attachFile && (o.datapath || o.workers)) restoreDataPath = await dataPathRestorer(control, server.id)
    if (isSweep(o)) return await sweep(o, cluster, server.id, clientIds, progressWanted(o.json), gids)
    if (o.datapath && o.datapath !== 'compare') await setDataPath(control, server.id, o.datapath)
    if (o.perftest.runInfinitely) {
      const { runInfinitely } = await import('../bench/run-infinitely.ts')
      const problems = await runInfinitely(control, server.id, [client.id], o, (text) => process.stdout.write(text), failed)
      return reportProblems(o, problems)
    }
    progress = new BenchProgress(progressWanted(o.json) && o.datapath !== 'compare', o.repeat * (o.baseline ? 2 : 1), `bench ${o.test}`)
    // With --baseline, both sides first run a short untimed warm-up (neither is measured cold); --perform_warm_up the emulator alone.
    progress.update(0, o.baseline || o.perftest.performWarmUp ? 'warm-up' : 'emulator')
    const warmProblems = o.baseline
      ? await Promise.race([warmUp(control, server.id, [client.id], o), failed])
      : o.perftest.performWarmUp
        ? (await Promise.race([runBench(control, server.id, [client.id], { ...o, iters: Math.min(o.iters, WARMUP_ITERS), duration: undefined, cpuUtil: false }), failed])).problems.map((p) => `warm-up: ${p}`)
        : []
    // --repeat: the same run N times on this cluster (the report is the last one's, then the median, min and max).
    const runs: RepeatRun[] = []
    let compared: Awaited<ReturnType<typeof compareDataPaths>> | undefined
    for (let i = 0; i < o.repeat; i++) {
      const step = i * (o.baseline ? 2 : 1)
      progress.update(step, 'emulator')
      compared = o.datapath === 'compare' ? await Promise.race([compareDataPaths(control, server.id, client.id, o), failed]) : undefined
      const outcome = compared
        ? compared.outcomes[compared.outcomes.length - 1]!
        : await Promise.race([watchRun(progress, control, server.id, expectedServerPackets(o, 1), (f) => progress!.update(step + f, 'emulator'), () => runBench(control, server.id, client.id, o)), failed])
      progress.update(step + 1, 'raw ZeroMQ')
      const runRaw = () => runBaseline(control, server.id, [client.id], baselineOptions(o, outcome), progress!.enabled ? (f) => progress!.update(step + 1 + f) : undefined)
      const roles = new Map([[server.id, 'server' as const], [client.id, 'client' as const]])
      const baseline = o.baseline ? await Promise.race([o.cpuUtil ? withBaselineCpu(control, roles, runRaw) : runRaw(), failed]) : undefined
      runs.push({ outcome, baseline })
    }
    progress.stop()
    const { outcome, baseline } = runs[runs.length - 1]!
    const summary = o.repeat > 1 ? repeatSummary(runs) : undefined
    const json: Record<string, unknown> = benchExtras(outcome, baseline)
    const problems = [...warmProblems, ...runs.flatMap((r) => [...(r.outcome.problems), ...(r.baseline?.problems ?? [])]), ...(compared ? compared.outcomes.slice(0, -1).flatMap((r) => r.problems) : [])]
    if (compared) {
      const { outcomes: _all, ...figures } = compared
      json.datapath = figures
    }
    if (attachFile) json.attached = attachFile.file
    json.runDir = cluster.runDir
    if (cli.pcap) json.pcap = resolve(cli.pcap)
    // Issue 13 item 17, --cpu_util, --repeat: what the perftest options did (one block).
    Object.assign(json, perftestExtrasJson(outcome), summary ? { repeat: { ...summary, results: runs.map((r) => r.outcome.bw ?? r.outcome.latDuration ?? r.outcome.lat) } } : {})
    const text = benchJsonText(outcome, json)
    if (o.outJsonFile) writeJson(o.outJsonFile, text)
    if (o.json) process.stdout.write(text)
    else {
      if (outcome.effects.samplesUs) process.stdout.write(sampleLines(o, outcome.effects.samplesUs))
      process.stdout.write(formatReport(outcome, { server: server.id, client: client.id }, gids))
      if (baseline) process.stdout.write(formatBaseline(outcome, baseline))
      if (compared) process.stdout.write(formatComparison(compared, o.kind === 'bw' ? outcome.bwUnit : 'usec'))
      if (outcome.effects.cpu) process.stdout.write(formatCpu(outcome.effects.cpu))
      if (baseline?.cpu) process.stdout.write(formatCpu(baseline.cpu, 'raw ZeroMQ baseline'))
      if (summary) process.stdout.write(formatRepeat(summary, outcome.bwUnit))
      if (attachFile) process.stdout.write(` attached to     : ${displayPath(attachFile.file)} (left running)\n`)
      else process.stdout.write(` run directory   : ${displayPath(cluster.runDir)}\n`)
      if (cli.pcap) process.stdout.write(` capture         : ${displayPath(resolve(cli.pcap))} (every data-plane packet, written as the cluster stops)\n`)
      if (o.outJsonFile) process.stdout.write(` json            : ${displayPath(resolve(o.outJsonFile))}\n`)
    }
    const limit = runs.map((r) => limitBwFailure(r.outcome)).find((m) => m !== undefined)
    if (limit !== undefined && problems.length === 0) {
      process.stderr.write(`rdma-emu: bench ${o.test}: ${limit}\n`)
      return ExitCode.PROBLEM
    }
    return reportProblems(o, problems)
  } catch (err) {
    if (err instanceof EmuError && err.code === ErrorCodes.NODE_FAILED) {
      process.stderr.write(`rdma-emu: bench ${o.test}: ${err.message}\n`)
      return ExitCode.PROBLEM
    }
    throw err
  } finally {
    progress?.stop()
    await restoreDataPath?.().catch(() => {})
    await cluster?.close()
  }
}

/** --out_json / --out_json_file: the file's directory must exist, checked before the run. */
function checkJsonTarget(file: string): void {
  const dir = dirname(resolve(file))
  let isDir = false
  try {
    isDir = statSync(dir).isDirectory()
  } catch {
    // Missing: isDir stays false.
  }
  if (!isDir) throw new EmuError(ErrorCodes.BAD_ARGUMENT, `--out_json_file: ${file}: directory ${dir} does not exist`)
}

function writeJson(file: string, text: string): void {
  try {
    writeFileSync(file, text)
  } catch (err) {
    throw new EmuError(ErrorCodes.BAD_ARGUMENT, `--out_json_file: cannot write ${file}: ${(err as Error).message}`)
  }
}

/** Print the data-check problems (exit 1), or exit 0. */
function reportProblems(o: BenchOptions, problems: readonly string[]): number {
  if (problems.length === 0) return ExitCode.OK
  process.stderr.write(`rdma-emu: bench ${o.test}: data check FAILED:\n${problems.map((p) => `  ${p}`).join('\n')}\n`)
  return ExitCode.PROBLEM
}

/** A cluster launched for this run from `config`, torn down afterwards. */
async function launched(config: ClusterConfig, runDir: string | undefined, pcap?: string): Promise<BenchCluster> {
  const { launchCluster } = await import('../launcher/launch-cluster.ts')
  const { describeExit } = await import('../launcher/node-process.ts')
  const cluster = await launchCluster({ config, runDir, pcap: pcap && resolve(pcap) })
  const failed = new Promise<never>((_, reject) =>
    cluster.on('failed', (e) => reject(new EmuError(ErrorCodes.NODE_FAILED, `node ${e.id} failed during the run (${describeExit(e)})`))),
  )
  failed.catch(() => {})
  return { control: cluster.control, runDir: cluster.runDir, failed, close: () => cluster.stop() }
}

/** The running cluster of `file`, joined as a client host and left running afterwards. */
async function attached(file: import('../launcher/attach-cluster.ts').ClusterFile, runDir: string | undefined): Promise<BenchCluster> {
  const { attachCluster } = await import('../launcher/attach-cluster.ts')
  const cluster = await attachCluster(file, { name: 'bench' })
  // Sweep files go to --run-dir when given, else into the attached run directory.
  const dir = runDir !== undefined ? resolve(runDir) : cluster.runDir
  mkdirSync(dir, { recursive: true })
  return { control: cluster.control, runDir: dir, failed: cluster.failed, close: () => cluster.close() }
}

/** Remember the server's data path now; the returned function puts it back. */
async function dataPathRestorer(control: ControlPlane, serverId: string): Promise<() => Promise<void>> {
  const was = await control.request(serverId, 'rdma.dataPathStats')
  return async () => {
    await control.request(serverId, 'rdma.dataPath', was.mode === 'inline' ? { mode: 'inline' } : { mode: was.mode, workers: was.workers, inlineBatchBytes: was.inlineBatchBytes })
  }
}

/** -a / --clients / --workers: every point on the running cluster, then the CSV, JSON and SVG. */
async function sweep(o: BenchOptions, cluster: BenchCluster, serverId: string, clientIds: string[], showProgress: boolean, gids: import('../bench/perftest-format.ts').ReportGids): Promise<number> {
  const { runSweep, sweepPoints, writeSweepFiles, sweepJsonText, formatSweep, sweepProblems } = await import('../bench/sweep.ts')
  const { BenchProgress } = await import('../bench/progress.ts')
  const points = sweepPoints(o).length
  const progress = new BenchProgress(showProgress, points * (o.baseline ? 2 : 1), `bench ${o.test} sweep`)
  let rows
  try {
    rows = await Promise.race([runSweep(cluster.control, serverId, clientIds, o, progress), cluster.failed])
  } finally {
    progress.stop()
  }
  const files = writeSweepFiles(cluster.runDir, o, rows)
  const text = sweepJsonText(o, rows, files, { runDir: cluster.runDir })
  if (o.outJsonFile) writeJson(o.outJsonFile, text)
  if (o.json) process.stdout.write(text)
  else {
    const what = [o.sizes ? `${o.sizes.length} sizes` : undefined, o.clients ? `clients ${o.clients.join(',')}` : undefined, o.workers ? `workers ${o.workers.join(',')}` : undefined]
    process.stdout.write(formatSweep(o, rows, gids))
    process.stdout.write(` sweep           : ${o.test}, ${what.filter(Boolean).join(' x ')}; ${o.qps} QP${o.qps === 1 ? '' : 's'} per client${o.baseline ? '; raw ZeroMQ baseline beside each point' : ''}\n`)
    process.stdout.write(` csv             : ${displayPath(files.csv)}\n`)
    process.stdout.write(` json            : ${displayPath(files.json)}\n`)
    process.stdout.write(` chart (svg)     : ${displayPath(files.svg)}\n`)
    process.stdout.write(` run directory   : ${displayPath(cluster.runDir)}\n`)
    if (o.outJsonFile) process.stdout.write(` json (perftest) : ${displayPath(resolve(o.outJsonFile))}\n`)
  }
  const problems = sweepProblems(rows)
  if (problems.length > 0) {
    process.stderr.write(`rdma-emu: bench ${o.test}: data check FAILED:\n${problems.map((p) => `  ${p}`).join('\n')}\n`)
    return ExitCode.PROBLEM
  }
  return ExitCode.OK
}
