/**
 * rdma-emu up: start the cluster and stay in the foreground. Ctrl-C / SIGTERM
 * stop it (exit 0); a node that dies takes the cluster down (exit 1).
 */
import { resolve } from 'node:path'
import type { Command } from 'commander'
import { loadConfig } from '../config/load-config.ts'
import { EmuError, ErrorCodes, ExitCode } from '../errors.ts'
import type { Cluster } from '../launcher/launch-cluster.ts'
import { Params } from '../params.ts'
import { configOption, displayPath, intArg, runDirOption } from './options.ts'
import { formatTable } from '../report/table.ts'

interface UpOpts {
  config: string
  runDir?: string
  readyTimeout: number
  json?: boolean
  pcap?: string
}

const STOP_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP']

export function register(program: Command): void {
  program
    .command('up')
    .description('start every node of the cluster as its own process and stay in the foreground (Ctrl-C stops it)')
    .addOption(configOption())
    .addOption(runDirOption())
    .option('--ready-timeout <ms>', 'how long nodes have to report ready', intArg(1), Params.readyTimeoutMs)
    .option('--json', 'print machine-readable JSON lines instead of tables')
    .option('--pcap <file>', 'capture every data-plane packet to this pcap file (RoCEv2: opens in Wireshark), written when the cluster stops')
    .action(async (opts: UpOpts) => {
      process.exitCode = await up(opts)
    })
}

async function up(opts: UpOpts): Promise<number> {
  const config = loadConfig(opts.config)
  // Loaded on use, so `validate` and `--help` start fast.
  const { launchCluster } = await import('../launcher/launch-cluster.ts')
  const { describeExit } = await import('../launcher/node-process.ts')
  const out = (line: string) => process.stdout.write(line + '\n')
  const abort = new AbortController()
  let resolveDone!: (r: { code: number; why: string }) => void
  const done = new Promise<{ code: number; why: string }>((r) => (resolveDone = r))
  const onSignal = (sig: NodeJS.Signals) => {
    abort.abort()
    resolveDone({ code: ExitCode.OK, why: sig })
  }
  for (const s of STOP_SIGNALS) process.on(s, onSignal)
  const keepAlive = setInterval(() => {}, 1 << 30)
  let cluster: Cluster | undefined
  try {
    try {
      cluster = await launchCluster({ config, runDir: opts.runDir, readyTimeoutMs: opts.readyTimeout, signal: abort.signal, pcap: opts.pcap && resolve(opts.pcap) })
    } catch (err) {
      if (abort.signal.aborted) return ExitCode.OK
      throw err
    }
    cluster.on('failed', (e) => resolveDone({ code: ExitCode.PROBLEM, why: `node ${e.id} failed (${describeExit(e)})` }))
    const where = displayPath(cluster.runDir)
    if (opts.json) {
      out(JSON.stringify({ event: 'up', runDir: cluster.runDir, nodes: cluster.nodes.map(({ id, role, pid, endpoint, logFile }) => ({ id, role, pid, endpoint, logFile })) }))
    } else {
      out(`rdma-emu: cluster "${config.name}" up, ${cluster.nodes.length} nodes (launcher pid ${process.pid})`)
      out('')
      out(formatTable(['ID', 'ROLE', 'PID', 'ENDPOINT'], cluster.nodes.map((n) => [n.id, n.role, n.pid, n.endpoint]), [2]))
      out('')
      out(`run directory: ${where}  (node logs: ${where}/<id>.log, launcher: ${where}/launcher.log)`)
      out('press Ctrl-C to stop')
    }
    const { code, why } = await done
    if (code !== ExitCode.OK) process.stderr.write(`rdma-emu: ${why}; stopping the cluster\n`)
    else if (!opts.json) out(`\n${why}: stopping the cluster`)
    await cluster.stop()
    if (opts.json) out(JSON.stringify({ event: 'stopped', code, reason: why }))
    else out('cluster stopped')
    return code
  } catch (err) {
    await cluster?.stop()
    if (err instanceof EmuError && err.code === ErrorCodes.NODE_FAILED) {
      process.stderr.write(`rdma-emu: ${err.message}\n`)
      return ExitCode.PROBLEM
    }
    throw err
  } finally {
    clearInterval(keepAlive)
    for (const s of STOP_SIGNALS) process.off(s, onSignal)
  }
}
