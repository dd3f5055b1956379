/**
 * rdma-emu up: start the cluster and stay in the foreground. Ctrl-C / SIGTERM
 * stop it (exit 0); a node that dies takes the cluster down (exit 1). When
 * nodes run programs, the cluster lives as long as they do
 * (src/launcher/program-exits.ts): once the client programs have all ended
 * with 0 it stops and exits 0; a program that fails stops it at once, exit 1,
 * naming the node and the cause.
 */
import { resolve } from 'node:path'
import type { Command } from 'commander'
import { loadConfig } from '../config/load-config.ts'
import { EmuError, ErrorCodes, ExitCode } from '../errors.ts'
import type { Cluster } from '../launcher/launch-cluster.ts'
import type { ProgramExit } from '../launcher/program-exits.ts'
import { Params } from '../params.ts'
import { configOption, displayPath, intArg, metricsHostOption, metricsPortOption, noMetricsOption, runDirOption } from './options.ts'
import { metricsEndpoint } from '../config/metrics-config.ts'
import type { MetricsServer } from '../metrics/metrics-server.ts'
import { formatTable } from '../report/table.ts'

interface UpOpts {
  config: string
  runDir?: string
  readyTimeout: number
  json?: boolean
  pcap?: string
  metricsPort?: number
  metricsHost?: string
  metrics?: boolean
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
    .addOption(metricsPortOption())
    .addOption(metricsHostOption())
    .addOption(noMetricsOption())
    .action(async (opts: UpOpts) => {
      process.exitCode = await up(opts)
    })
}

async function up(opts: UpOpts): Promise<number> {
  const config = loadConfig(opts.config)
  const endpoint = metricsEndpoint(config, opts)
  // Loaded on use, so `validate` and `--help` start fast.
  const { launchCluster } = await import('../launcher/launch-cluster.ts')
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
  let metrics: MetricsServer | undefined
  try {
    // Bound before any node starts: a port in use is bad input, found at once.
    if (endpoint) metrics = await (await import('../metrics/metrics-server.ts')).MetricsServer.listen(endpoint)
    try {
      cluster = await launchCluster({ config, runDir: opts.runDir, readyTimeoutMs: opts.readyTimeout, signal: abort.signal, pcap: opts.pcap && resolve(opts.pcap) })
    } catch (err) {
      if (abort.signal.aborted) return ExitCode.OK
      throw err
    }
    if (metrics) {
      const { sampleNodes } = await import('../metrics/node-stats.ts')
      const { control, nodes } = cluster
      // Each scrape asks every node over the launcher's control plane; one that does not answer in time is `rdma_emu_up 0`.
      metrics.setSource(() => sampleNodes(control, nodes, Params.metricsScrapeTimeoutMs))
    }
    const { programs } = cluster
    cluster.on('failed', (e) => resolveDone({ code: ExitCode.PROBLEM, why: programs.describeNodeExit(e) }))
    const where = displayPath(cluster.runDir)
    const programOf = (id: string) => programs.programs.get(id)?.program
    if (opts.json) {
      out(JSON.stringify({ event: 'up', runDir: cluster.runDir, ...(metrics ? { metrics: metrics.url } : {}), nodes: cluster.nodes.map(({ id, role, pid, endpoint, logFile }) => ({ id, role, pid, endpoint, logFile, ...(programOf(id) ? { program: programOf(id) } : {}) })) }))
    } else {
      out(`rdma-emu: cluster "${config.name}" up, ${cluster.nodes.length} nodes (launcher pid ${process.pid})`)
      out('')
      const head = ['ID', 'ROLE', 'PID', 'ENDPOINT', ...(programs.hasPrograms ? ['PROGRAM'] : [])]
      out(formatTable(head, cluster.nodes.map((n) => [n.id, n.role, n.pid, n.endpoint, ...(programs.hasPrograms ? [displayPath(programOf(n.id) ?? '-')] : [])]), [2]))
      out('')
      out(`run directory: ${where}  (node logs: ${where}/<id>.log, launcher: ${where}/launcher.log)`)
      if (metrics) out(`metrics: ${metrics.url}`)
      out(programs.hasPrograms ? 'running until the programs end (Ctrl-C stops it sooner)' : 'press Ctrl-C to stop')
    }
    const tell = (e: ProgramExit) => {
      if (opts.json) out(JSON.stringify({ event: 'program', node: e.id, program: e.program, code: e.code, ...(e.error ? { error: e.error } : {}) }))
      else out(`${e.id}: program ${displayPath(e.program)} ${e.code === 0 ? 'ended (exit 0)' : e.error ?? `exited with code ${e.code}`}`)
    }
    // Those that ended while the cluster was still starting, then the others as they end.
    programs.exits.forEach(tell)
    programs.on('exit', tell)
    if (programs.hasPrograms) void programs.done.then((o) => resolveDone({ code: o.ok ? ExitCode.OK : ExitCode.PROBLEM, why: o.message }))
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
    await metrics?.close()
    clearInterval(keepAlive)
    for (const s of STOP_SIGNALS) process.off(s, onSignal)
  }
}
