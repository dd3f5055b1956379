/**
 * rdma-emu bench TEST: perftest's tests on an emulated cluster. Launches the
 * cluster from the config (first server = target, first client = load
 * generator), runs, checks the data, prints perftest's table or JSON, tears
 * down. Exit 0 ok, 1 a failed completion or data check, 2 bad options.
 */
import { writeFileSync } from 'node:fs'
import type { Command } from 'commander'
import { BENCH_TESTS, parseBenchOptions, type RawBenchOptions } from '../bench/bench-options.ts'
import { loadConfig } from '../config/load-config.ts'
import { EmuError, ErrorCodes, ExitCode } from '../errors.ts'
import type { Cluster } from '../launcher/launch-cluster.ts'
import { configOption, displayPath, runDirOption } from './options.ts'

interface BenchCliOpts {
  config: string
  runDir?: string
  size?: string
  iters?: string
  txDepth?: string
  qp?: string
  atomic_type?: string
  duration?: string
  report_gbits?: boolean
  json?: boolean
  out_json_file?: string
  datapath?: string
  rounds?: string
}

export function register(program: Command): void {
  program
    .command('bench')
    .description('run a perftest test (ib_write_bw, ib_read_lat, ...) on the emulated cluster')
    .argument('<test>', `one of ${BENCH_TESTS.join(', ')}`)
    .addOption(configOption())
    .addOption(runDirOption())
    .option('-s, --size <bytes>', 'bytes per operation (default 65536 for _bw, 2 for _lat, 8 for atomics)')
    .option('-n, --iters <n>', 'operations per QP (default 5000 for _bw, 1000 for _lat)')
    .option('-t, --tx-depth <n>', 'outstanding operations per QP (default 128 for _bw, 1 for _lat)')
    .option('-q, --qp <n>', 'QPs, run in parallel (default 1)')
    .option('-A, --atomic_type <type>', 'CMP_AND_SWAP or FETCH_AND_ADD (default FETCH_AND_ADD)')
    .option('-D, --duration <secs>', 'run for a time instead of -n (not supported yet)')
    .option('--report_gbits', 'report bandwidth in Gb/sec instead of MiB/sec')
    .option('--json', 'print the result as JSON (perftest keys) instead of the table')
    .option('--out_json_file <file>', 'also write the JSON result to this file')
    .option('--datapath <mode>', "server data path: inline, workers, or compare (both, side by side, in one run)")
    .option('--rounds <n>', 'with --datapath compare: runs per data path (default 3)')
    .action(async (test: string, opts: BenchCliOpts) => {
      process.exitCode = await bench(test, opts)
    })
}

async function bench(test: string, cli: BenchCliOpts): Promise<number> {
  const raw: RawBenchOptions = {
    size: cli.size, iters: cli.iters, txDepth: cli.txDepth, qps: cli.qp, atomicType: cli.atomic_type, duration: cli.duration,
    report_gbits: cli.report_gbits, json: cli.json, out_json_file: cli.out_json_file, datapath: cli.datapath, rounds: cli.rounds,
  }
  const o = parseBenchOptions(test, raw)
  const config = loadConfig(cli.config)
  const server = config.nodes.find((n) => n.role === 'server')
  const client = config.nodes.find((n) => n.role === 'client')
  if (!server || !client) {
    throw new EmuError(ErrorCodes.BAD_ARGUMENT, `${cli.config}: bench needs at least one server node and one client node`)
  }
  // Loaded on use, so `--help` and option errors are fast.
  const { launchCluster } = await import('../launcher/launch-cluster.ts')
  const { describeExit } = await import('../launcher/node-process.ts')
  const { runBench } = await import('../bench/run-bench.ts')
  const { benchJson, formatReport } = await import('../bench/perftest-format.ts')
  const { compareDataPaths, formatComparison, setDataPath } = await import('../bench/datapath-compare.ts')

  let cluster: Cluster | undefined
  try {
    cluster = await launchCluster({ config, runDir: cli.runDir })
    const failed = new Promise<never>((_, reject) =>
      cluster!.on('failed', (e) => reject(new EmuError(ErrorCodes.NODE_FAILED, `node ${e.id} failed during the run (${describeExit(e)})`))),
    )
    failed.catch(() => {})
    if (o.datapath === 'inline' || o.datapath === 'workers') await setDataPath(cluster.control, server.id, o.datapath)
    const compared = o.datapath === 'compare' ? await Promise.race([compareDataPaths(cluster.control, server.id, client.id, o), failed]) : undefined
    const outcome = compared ? compared.outcomes[compared.outcomes.length - 1]! : await Promise.race([runBench(cluster.control, server.id, client.id, o), failed])
    const json: Record<string, unknown> = benchJson(outcome)
    const problems = compared ? compared.outcomes.flatMap((r) => r.problems) : outcome.problems
    if (compared) {
      const { outcomes: _all, ...figures } = compared
      json.datapath = figures
    }
    if (o.outJsonFile) writeFileSync(o.outJsonFile, JSON.stringify(json, null, 2) + '\n')
    if (o.json) process.stdout.write(JSON.stringify(json, null, 2) + '\n')
    else {
      process.stdout.write(formatReport(outcome, { server: server.id, client: client.id }))
      if (compared) process.stdout.write(formatComparison(compared, o.kind === 'bw' ? outcome.bwUnit : 'usec'))
      process.stdout.write(` run directory   : ${displayPath(cluster.runDir)}\n`)
    }
    if (problems.length > 0) {
      process.stderr.write(`rdma-emu: bench ${o.test}: data check FAILED:\n${problems.map((p) => `  ${p}`).join('\n')}\n`)
      return ExitCode.PROBLEM
    }
    return ExitCode.OK
  } catch (err) {
    if (err instanceof EmuError && err.code === ErrorCodes.NODE_FAILED) {
      process.stderr.write(`rdma-emu: bench ${o.test}: ${err.message}\n`)
      return ExitCode.PROBLEM
    }
    throw err
  } finally {
    await cluster?.stop()
  }
}
