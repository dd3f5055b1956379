/** rdma-emu node --id ID: run one node in the foreground (the launcher uses the hidden options). */
import { Option, type Command } from 'commander'
import { loadConfig } from '../config/load-config.ts'
import { Params } from '../params.ts'
import { defaultRunDir } from '../launcher/run-dir.ts'
import { reportError } from './report-error.ts'
import { configOption, intArg, runDirOption } from './options.ts'

interface NodeOpts {
  id: string
  config: string
  runDir?: string
  dataDir?: string
  launcher?: string
  readyTimeout: number
  pcap?: string
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
    .addOption(new Option('--launcher <endpoint>', 'fabric endpoint of the launcher').hideHelp())
    .addOption(new Option('--ready-timeout <ms>', 'start-up handshake timeout').argParser(intArg(1)).default(Params.readyTimeoutMs).hideHelp())
    .action(async (opts: NodeOpts) => {
      const config = loadConfig(opts.config)
      const { startNode } = await import('../host/node-host.ts')
      const node = await startNode({
        config,
        id: opts.id,
        runDir: opts.runDir ?? defaultRunDir(),
        dataDir: opts.dataDir,
        launcher: opts.launcher,
        readyTimeoutMs: opts.readyTimeout,
        pcap: opts.pcap,
      })
      const onSignal = (sig: NodeJS.Signals) => void node.stop(0, sig)
      process.on('SIGINT', onSignal)
      process.on('SIGTERM', onSignal)
      process.on('uncaughtException', (err) => {
        reportError(err)
        node.ctx.log.fatal({ err }, 'uncaught exception')
        void node.stop(1, 'uncaught exception')
      })
      if (!opts.launcher) {
        process.stdout.write(`node ${node.ctx.id} (${node.ctx.role}) ready at ${node.ctx.transport.endpoint}, pid ${process.pid}, log ${node.ctx.runDir}/${node.ctx.id}.log\n`)
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
