/** Per-process pino loggers writing to a file in the run directory. */
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import pino, { type Logger } from 'pino'
import type { LogLevel } from '../config/defaults.ts'

export interface FileLogger {
  log: Logger
  /** Write out buffered lines; call before exiting. */
  flush(): void
}

export function fileLogger(file: string, level: LogLevel, base: Record<string, unknown>): FileLogger {
  mkdirSync(dirname(file), { recursive: true })
  // sync: the log volume is small, and lines must survive a process.exit().
  const dest = pino.destination({ dest: file, sync: true, mkdir: true })
  const log = pino({ level, base: { pid: process.pid, ...base } }, dest)
  return {
    log,
    flush() {
      try {
        dest.flushSync()
      } catch {
        // Nothing buffered, or the stream is already closed.
      }
    },
  }
}
