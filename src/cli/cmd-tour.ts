/**
 * rdma-emu tour (npm start): bring up the cluster, run each tour step, print
 * readable results, tear down. Later issues add steps to STEPS.
 */
import type { Command } from 'commander'
import { loadConfig } from '../config/load-config.ts'
import { EmuError, ErrorCodes, ExitCode } from '../errors.ts'
import type { Cluster } from '../launcher/launch-cluster.ts'
import { Params } from '../params.ts'
import { configOption, displayPath, intArg, runDirOption } from './options.ts'
import { formatTable } from '../report/table.ts'
import type { TourStep } from './tour-fabric-rtt.ts'

/** The tour, in order (loaded on use, so other commands start fast). */
const STEPS = async (): Promise<TourStep[]> => [
  (await import('./tour-fabric-rtt.ts')).fabricRoundTrips,
  (await import('./tour-bench.ts')).benchVsBaseline,
  (await import('./tour-truncate-race.ts')).truncateRace,
]

interface TourOpts {
  config: string
  runDir?: string
  count: number
  readyTimeout: number
}

export function register(program: Command): void {
  program
    .command('tour')
    .description('bring up the cluster, show what it does (fabric round trips, perftest beside raw ZeroMQ, a truncate racing RDMA under every pin policy), and tear it down')
    .addOption(configOption())
    .addOption(runDirOption())
    .option('--count <n>', 'round trips per node pair', intArg(1, 1_000_000), 200)
    .option('--ready-timeout <ms>', 'how long nodes have to report ready', intArg(1), Params.readyTimeoutMs)
    .action(async (opts: TourOpts) => {
      process.exitCode = await tour(opts)
    })
}

async function tour(opts: TourOpts): Promise<number> {
  const config = loadConfig(opts.config)
  const { launchCluster } = await import('../launcher/launch-cluster.ts')
  const { describeExit } = await import('../launcher/node-process.ts')
  const steps = await STEPS()
  const out = (line: string) => process.stdout.write(line + '\n')
  const abort = new AbortController()
  let cluster: Cluster | undefined
  let interrupted = false
  const onSignal = () => {
    interrupted = true
    abort.abort()
    void cluster?.stop()
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  try {
    out(`rdma-emu tour: starting ${config.nodes.length} nodes from ${opts.config}`)
    const t0 = Date.now()
    cluster = await launchCluster({ config, runDir: opts.runDir, readyTimeoutMs: opts.readyTimeout, signal: abort.signal })
    let failure: string | undefined
    cluster.on('failed', (e) => (failure ??= `node ${e.id} failed (${describeExit(e)})`))
    out(`cluster up in ${Date.now() - t0} ms (run directory ${displayPath(cluster.runDir)})`)
    out('')
    out(formatTable(['ID', 'ROLE', 'PID', 'ENDPOINT'], cluster.nodes.map((n) => [n.id, n.role, n.pid, n.endpoint]), [2]))
    for (const [i, step] of steps.entries()) {
      out('')
      out(`== ${i + 1}. ${step.title}`)
      await step.run(cluster, out, { count: opts.count, signal: abort.signal })
      if (failure) throw new EmuError(ErrorCodes.NODE_FAILED, failure)
    }
    out('')
    out('tearing down')
    await cluster.stop()
    out('tour done')
    return ExitCode.OK
  } catch (err) {
    await cluster?.stop()
    if (interrupted) {
      process.stderr.write('rdma-emu: tour interrupted\n')
      return ExitCode.PROBLEM
    }
    throw err
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}
