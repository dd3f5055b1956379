/** How a command's error reaches the user: one clear message on stderr. */
import { EmuError, ErrorCodes } from '../errors.ts'

export function reportError(err: unknown): void {
  if (err instanceof EmuError) {
    if (err.code === ErrorCodes.CONFIG_INVALID) {
      const problems = (err.details as { problems?: string[] } | undefined)?.problems ?? [err.message]
      process.stderr.write(`rdma-emu: invalid configuration (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n${problems.join('\n')}\n`)
    } else if (err.code === ErrorCodes.SCENARIO_INVALID) {
      const { problems = [err.message], file } = (err.details ?? {}) as { problems?: string[]; file?: string }
      process.stderr.write(`rdma-emu: invalid scenario${file ? ` ${file}` : ''} (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n${problems.join('\n')}\n`)
    } else {
      process.stderr.write(`rdma-emu: ${err.message}\n`)
    }
  } else {
    process.stderr.write(`rdma-emu: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
  }
}
