/**
 * rdma-emu node --id ID: run one node in the foreground (the launcher uses
 * the hidden options). Started alone (no --launcher) it writes the run file
 * (src/host/node-alone.ts) and reports ready once every peer answers.
 */
import { Option, type Command } from 'commander'
import { join, resolve } from 'node:path'
import { loadConfig, programProblem } from '../config/load-config.ts'
import { EmuError, ErrorCodes } from '../errors.ts'
import { Params } from '../params.ts'
import { defaultRunDir } from '../launcher/run-dir.ts'
import { CLUSTER_FILE } from '../launcher/run-file.ts'
import { ALONE_READY_TIMEOUT_MS } from '../host/node-alone.ts'
import { reportError } from './report-error.ts'
import { plainFabricWarning } from '../config/security.ts'
import { configOption, intArg, metricsHostOption, metricsPortOption, noMetricsOption, runDirOption } from './options.ts'
import { metricsEndpoint } from '../config/metrics-config.ts'

interface NodeOpts {
  id: string
  config: string
  runDir?: string
  dataDir?: string
  launcher?: string
  readyTimeout?: number
  pcap?: string
  program?: string
  metricsPort?: number
  metricsHost?: string
  metrics?: boolean
  launcherKey?: string
}

export function register(program: Command): void {
  program
    .command('node')
    .description('run one node of the cluster in the foreground (a cluster can span machines: start each node with `node`)')
    .requiredOption('--id <id>', 'node id from the configuration')
    .addOption(configOption())
    .addOption(runDirOption())
    .option('--data-dir <dir>', 'persistent data directory (default: <run-dir>/data/<id>)')
    .option('--pcap <file>', 'capture every data-plane packet this node sends (RoCEv2 pcap, opens in Wireshark)')
    .option('--program <file>', "run this JavaScript program as the node's host (instead of the configuration's); the node exits when it ends, with its status")
    .argument('[args...]', 'arguments for the program, after -- (instead of the configuration\'s "args")')
    .addOption(metricsPortOption())
    .addOption(metricsHostOption())
    .addOption(noMetricsOption())
    .addOption(new Option('--launcher <endpoint>', 'fabric endpoint of the launcher').hideHelp())
    .addOption(new Option('--launcher-key <z85>', "the launcher's CURVE public key").hideHelp())
    .addOption(new Option('--ready-timeout <ms>', `how long to wait for every peer to answer before giving up (exit 1, naming the missing peers; default ${ALONE_READY_TIMEOUT_MS}, with a launcher ${Params.readyTimeoutMs})`).argParser(intArg(1)))
    .action(async (args: string[], opts: NodeOpts) => {
      const config = loadConfig(opts.config)
      const nodeConfig = config.nodes.find((n) => n.id === opts.id)
      if (opts.program !== undefined) {
        const why = programProblem(opts.program, process.cwd())
        if (why) throw new EmuError(ErrorCodes.BAD_ARGUMENT, `--program: ${why}`)
      } else if (args.length > 0 && !nodeConfig?.program) {
        throw new EmuError(ErrorCodes.BAD_ARGUMENT, `program arguments given (${args.join(' ')}) but no program: add --program FILE`)
      }
      const spec = opts.program !== undefined
        ? { file: resolve(opts.program), args }
        : nodeConfig?.program ? { file: nodeConfig.program, args: args.length ? args : nodeConfig.args ?? [] } : undefined
      // Started by a launcher (`up`), the node serves no metrics of its own: the launcher serves every node's.
      const endpoint = opts.launcher ? undefined : metricsEndpoint(config, opts)
      const metrics = endpoint ? await (await import('../metrics/metrics-server.ts')).MetricsServer.listen(endpoint) : undefined
      const { startNode } = await import('../host/node-host.ts')
      // Ctrl-C / SIGTERM while a node alone waits for its peers: it stops, exit 0 (as `up` stopped while starting).
      const early = new AbortController()
      const stopEarly = () => early.abort()
      if (!opts.launcher) {
        process.on('SIGINT', stopEarly)
        process.on('SIGTERM', stopEarly)
      }
      const starting = startNode({
        config,
        id: opts.id,
        runDir: opts.runDir ?? defaultRunDir(),
        dataDir: opts.dataDir,
        launcher: opts.launcher,
        readyTimeoutMs: opts.readyTimeout,
        pcap: opts.pcap,
        configFile: opts.config,
        launcherKey: opts.launcherKey,
        onWaitPeers: (endpoint, peers, ms) => {
          if (peers.length > 0) process.stdout.write(`node ${opts.id} at ${endpoint}: waiting up to ${ms} ms for ${peers.length} peer${peers.length === 1 ? '' : 's'} (${peers.join(', ')})\n`)
        },
        signal: early.signal,
      })
      const node = await starting.finally(() => {
        process.off('SIGINT', stopEarly)
        process.off('SIGTERM', stopEarly)
      }).catch((err: unknown) => {
        if (!early.signal.aborted) throw err
        process.stdout.write(`node ${opts.id}: stopped before its peers answered\n`)
        process.exit(0)
      })
      const onSignal = (sig: NodeJS.Signals) => void node.stop(0, sig)
      process.on('SIGINT', onSignal)
      process.on('SIGTERM', onSignal)
      let run: import('../host/program-runner.ts').ProgramRun | undefined
      process.on('uncaughtException', (err) => {
        node.ctx.log.fatal({ err }, 'uncaught exception')
        // Thrown out of the program (a callback, an unawaited rejection): the program failed; its runner reports it.
        if (run && !run.ended) return run.fail(err)
        reportError(err)
        void node.stop(1, 'uncaught exception')
      })
      if (metrics) {
        const { serveNodeMetrics } = await import('../host/node-metrics.ts')
        serveNodeMetrics(node, metrics)
      }
      if (!opts.launcher) {
        const warning = plainFabricWarning(config)
        if (warning) process.stderr.write(warning + '\n')
      }
      if (!opts.launcher) {
        const bound = node.ctx.transport.endpoint !== node.endpoint ? ` (bound ${node.ctx.transport.endpoint})` : ''
        process.stdout.write(`node ${node.ctx.id} (${node.ctx.role}) ready at ${node.endpoint}${bound}, pid ${process.pid}, run file ${join(node.ctx.runDir, CLUSTER_FILE)}, log ${node.ctx.runDir}/${node.ctx.id}.log\n`)
      }
      if (metrics) process.stdout.write(`node ${node.ctx.id}: metrics at ${metrics.url}\n`)
      if (spec) {
        const { runNodeProgram } = await import('../host/program-runner.ts')
        run = runNodeProgram(node, spec, Boolean(opts.launcher))
      }
      // Keep the process alive until shutdown (sockets alone may not), then
      // exit at once: a handle left open (a worker thread still stopping)
      // must not keep a stopped node around.
      const keepAlive = setInterval(() => {}, 1 << 30)
      const code = await node.stopped
      clearInterval(keepAlive)
      process.exit(code)
    })
}
