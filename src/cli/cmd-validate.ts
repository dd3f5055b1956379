/** rdma-emu validate [-c FILE]: check a configuration and exit 0, or 2 with one line per problem. */
import type { Command } from 'commander'
import { loadConfig } from '../config/load-config.ts'
import { configOption } from './options.ts'

export function register(program: Command): void {
  program
    .command('validate')
    .description('check a cluster configuration against the schema and the semantic rules')
    .addOption(configOption())
    .action((opts: { config: string }) => {
      const config = loadConfig(opts.config)
      const nodes = config.nodes.map((n) => `${n.id} (${n.role})`).join(', ')
      process.stdout.write(`${opts.config}: valid, ${config.nodes.length} node${config.nodes.length === 1 ? '' : 's'}: ${nodes}\n`)
    })
}
