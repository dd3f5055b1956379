/**
 * rdma-emu scale: the one-machine scale benchmark (src/bench/scale-bench.ts).
 * Starts --servers + --clients nodes (4 + 28 by default) from one generated
 * configuration, reports time to ready, RSS and idle CPU per node, an
 * all-clients write_bw against the servers and the teardown time, and checks
 * that nothing is left behind. A benchmark: it prints figures; it fails
 * (exit 1) only when the data check finds a problem or a process outlives
 * the teardown.
 *
 * Without --run-dir the run directory (logs, the servers' DAX device files)
 * is a temporary one, removed at the end; with --run-dir it is kept.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import type { Command } from 'commander'
import { ExitCode } from '../errors.ts'
import { displayPath, intArg } from './options.ts'
import type { ScaleOptions } from '../bench/scale-bench.ts'

/** Commander's options: the benchmark's own (scale-bench.ts), and the CLI's. */
interface ScaleOpts extends Pick<ScaleOptions, 'servers' | 'clients' | 'workers' | 'idleSecs' | 'size' | 'iters' | 'txDepth' | 'qpTimeout'> {
  readyTimeout: number
  runDir?: string
  json?: boolean
}

export function register(program: Command): void {
  program
    .command('scale')
    .description('scale benchmark on one machine: start many nodes (4 servers, 28 clients by default), report time to ready, RSS and idle CPU per node, an all-clients write_bw and the teardown time')
    .option('--servers <n>', 'server nodes', intArg(1, 64), 4)
    .option('--clients <n>', 'client nodes (client k writes to server k mod servers)', intArg(1, 192), 28)
    .option('--workers <n>', 'data-path worker threads per server (0: inline)', intArg(0, 64), 2)
    .option('--idle-secs <s>', 'seconds of the idle CPU window', intArg(1, 600), 5)
    .option('-s, --size <bytes>', 'write_bw: bytes per RDMA WRITE', intArg(1, 1 << 23), 65536)
    .option('-n, --iters <n>', 'write_bw: WRITEs per client', intArg(5, 1_000_000), 500)
    .option('-t, --tx-depth <n>', "write_bw: WRITEs in flight per QP (perftest's -t; its default 128 over-runs 28 QPs on a few cores)", intArg(1, 8192), 16)
    .option('-u, --qp-timeout <n>', "write_bw: the QPs' ACK timeout, 4.096 us x 2^N (perftest's -u; its default 14, 67 ms, is shorter than the queueing of 32 busy processes)", intArg(0, 31), 18)
    .option('--ready-timeout <ms>', 'how long the nodes have to report ready', intArg(1), 120_000)
    .option('--run-dir <dir>', 'run directory for logs and data, kept afterwards (default: a temporary one, removed)')
    .option('--json', 'print the figures as JSON')
    .action(async (opts: ScaleOpts) => {
      process.exitCode = await scale(opts)
    })
}

async function scale(opts: ScaleOpts): Promise<number> {
  const { runScale } = await import('../bench/scale-bench.ts')
  const { formatScale } = await import('../bench/scale-report.ts')
  const temp = opts.runDir === undefined
  const runDir = temp ? join(mkdtempSync(join(tmpdir(), 'rdma-emu-scale-')), 'run') : resolve(opts.runDir!)
  const abort = new AbortController()
  const onSignal = () => abort.abort()
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  try {
    const result = await runScale({
      servers: opts.servers, clients: opts.clients, workers: opts.workers, idleSecs: opts.idleSecs,
      size: opts.size, iters: opts.iters, txDepth: opts.txDepth, qpTimeout: opts.qpTimeout, runDir, readyTimeoutMs: opts.readyTimeout, signal: abort.signal,
      progress: opts.json ? undefined : (line) => process.stderr.write(`rdma-emu scale: ${line}\n`),
    })
    if (temp) rmSync(join(runDir, '..'), { recursive: true, force: true })
    const runDirNote = temp ? 'removed (temporary)' : `kept: ${displayPath(runDir)}`
    if (opts.json) process.stdout.write(JSON.stringify({ ...result, runDir: temp ? null : runDir }, null, 2) + '\n')
    else process.stdout.write(formatScale(result) + `run directory: ${runDirNote}\n`)
    return result.writeBw.problems.length > 0 || result.leftBehind.length > 0 ? ExitCode.PROBLEM : ExitCode.OK
  } catch (err) {
    if (abort.signal.aborted) {
      process.stderr.write('rdma-emu scale: interrupted; the cluster is stopped\n')
      return ExitCode.PROBLEM
    }
    throw err
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    if (temp) rmSync(join(runDir, '..'), { recursive: true, force: true })
  }
}
