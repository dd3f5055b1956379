/**
 * The rdma-emu command line. Each subcommand lives in its own cmd-<name>.ts
 * exporting register(program); add a command by adding it to COMMANDS.
 *
 * Exit codes: 0 ok, 1 a problem was found (a node failed, an invariant
 * broke), 2 bad input (arguments, configuration).
 */
import { realpathSync } from 'node:fs'
import { Command, CommanderError } from 'commander'
import { ExitCode, exitCodeFor } from '../errors.ts'
import * as bench from './cmd-bench.ts'
import * as keys from './cmd-keys.ts'
import * as nodeCmd from './cmd-node.ts'
import * as runCmd from './cmd-run.ts'
import * as scale from './cmd-scale.ts'
import * as stats from './cmd-stats.ts'
import * as tour from './cmd-tour.ts'
import * as up from './cmd-up.ts'
import * as validate from './cmd-validate.ts'
import { packagePath } from '../package-root.ts'
import { reportError } from './report-error.ts'

export interface CommandModule {
  register(program: Command): void
}

const COMMANDS: CommandModule[] = [validate, up, nodeCmd, tour, bench, runCmd, stats, scale, keys]

export function buildProgram(): Command {
  const program = new Command('rdma-emu')
    .description('Multi-process RDMA emulator: real IBA packets over a ZeroMQ fabric, with a DAX/filesystem/pin model on the server')
    .showHelpAfterError('(add --help for usage)')
    .exitOverride()
  for (const cmd of COMMANDS) cmd.register(program)
  return program
}

/** Run the CLI; resolves with the process exit code. */
export async function main(argv: string[] = process.argv): Promise<number> {
  const program = buildProgram()
  process.exitCode = undefined
  try {
    await program.parseAsync(argv)
    return typeof process.exitCode === 'number' ? process.exitCode : ExitCode.OK
  } catch (err) {
    if (err instanceof CommanderError) {
      // Commander already printed its message (naming the argument) or the help.
      return err.exitCode === 0 ? ExitCode.OK : ExitCode.BAD_INPUT
    }
    reportError(err)
    return exitCodeFor(err)
  }
}

/** True when this process was started through the rdma-emu bin (which imports this module). */
function startedAsProgram(): boolean {
  try {
    return process.argv[1] !== undefined && realpathSync(process.argv[1]) === realpathSync(packagePath('nodes/rdma-emu.js'))
  } catch {
    return false
  }
}

if (startedAsProgram()) process.exit(await main())
