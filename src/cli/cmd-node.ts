/** rdma-emu node --id ID: run one node in the foreground (the launcher uses the hidden options). */
import { Option, type Command } from 'commander'
import { resolve } from 'node:path'
import { loadConfig, programProblem } from '../config/load-config.ts'
import { EmuError, ErrorCodes } from '../errors.ts'
import { Params } from '../params.ts'
import { defaultRunDir } from '../launcher/run-dir.ts'
import { reportError } from './report-error.ts'
import { plainFabricWarning } from '../config/security.ts'
import { configOption, intArg, runDirOption } from './options.ts'

interface NodeOpts {
  id: string
  config: string
  runDir?: string
  dataDir?: string
  launcher?: string
  readyTimeout: number
  pcap?: string
  program?: string
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
    .addOption(new Option('--launcher <endpoint>', 'fabric endpoint of the launcher').hideHelp())
    .addOption(new Option('--launcher-key <z85>', "the launcher's CURVE public key").hideHelp())
    .addOption(new Option('--ready-timeout <ms>', 'start-up handshake timeout').argParser(intArg(1)).default(Params.readyTimeoutMs).hideHelp())
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
      const { startNode } = await import('../host/node-host.ts')
      const node = await startNode({
        config,
        id: opts.id,
        runDir: opts.runDir ?? defaultRunDir(),
        dataDir: opts.dataDir,
        launcher: opts.launcher,
        readyTimeoutMs: opts.readyTimeout,
        pcap: opts.pcap,
        launcherKey: opts.launcherKey,
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
      if (!opts.launcher) {
        const warning = plainFabricWarning(config)
        if (warning) process.stderr.write(warning + '\n')
        process.stdout.write(`node ${node.ctx.id} (${node.ctx.role}) ready at ${node.ctx.transport.endpoint}, pid ${process.pid}, log ${node.ctx.runDir}/${node.ctx.id}.log\n`)
      }
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
