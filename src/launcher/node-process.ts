/** One spawned node process: spawn, exit tracking, signals. */
import { spawn, type ChildProcess } from 'node:child_process'
import { closeSync, openSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { packagePath } from '../package-root.ts'
import { Params } from '../params.ts'

/** The CLI entry point; nodes are started as `<node> rdma-emu.js node --id X ...`. */
export const BIN_PATH = packagePath('nodes/rdma-emu.js')

export interface NodeExit {
  id: string
  code: number | null
  signal: NodeJS.Signals | null
}

export class NodeProcess {
  readonly child: ChildProcess
  readonly pid: number
  /** stdout + stderr of the process. */
  readonly outFile: string
  exit: NodeExit | undefined
  readonly exited: Promise<NodeExit>

  constructor(readonly id: string, args: string[], runDir: string, env?: NodeJS.ProcessEnv) {
    this.outFile = join(runDir, `${id}.out`)
    const fd = openSync(this.outFile, 'a')
    try {
      this.child = spawn(process.execPath, [...nodeFlags(), BIN_PATH, 'node', '--id', id, ...args], {
        // Own process group: a terminal's Ctrl-C reaches only the launcher,
        // which then shuts the nodes down in order.
        detached: true,
        stdio: ['ignore', fd, fd, 'ipc'],
        env: env ?? process.env,
      })
    } finally {
      closeSync(fd)
    }
    this.pid = this.child.pid ?? -1
    this.exited = new Promise<NodeExit>((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exit = { id, code, signal }
        resolve(this.exit)
      })
      this.child.once('error', () => {
        // spawn failure: 'exit' may never come.
        this.exit ??= { id, code: -1, signal: null }
        resolve(this.exit)
      })
    })
  }

  get running(): boolean {
    return this.exit === undefined
  }

  kill(signal: NodeJS.Signals): void {
    if (!this.running) return
    try {
      process.kill(this.pid, signal)
    } catch {
      // Already gone.
    }
  }

  /** Last non-empty lines the process wrote to stdout/stderr. */
  outputTail(lines = 3): string {
    try {
      const text = readFileSync(this.outFile, 'utf8').trim()
      return text.split('\n').filter((l) => l.trim()).slice(-lines).join(' | ')
    } catch {
      return ''
    }
  }
}

export function describeExit(e: NodeExit): string {
  return e.signal ? `killed by ${e.signal}` : `exit code ${e.code}`
}

/** Wait for a promise or a timeout; true when the promise won. */
export async function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<false>((r) => (timer = setTimeout(() => r(false), ms)))
  const won = await Promise.race([p.then(() => true as const), timeout])
  clearTimeout(timer)
  return won
}

/**
 * Node.js flags of every node process: Params.nodeV8Flags, then the extra
 * ones of RDMA_EMU_NODE_FLAGS (space-separated, so they can override), e.g.
 * `--cpu-prof --cpu-prof-dir=prof` to profile a bench run's nodes; Node
 * refuses --cpu-prof in NODE_OPTIONS.
 */
export function nodeFlags(env: NodeJS.ProcessEnv = process.env): string[] {
  return [...Params.nodeV8Flags, ...(env.RDMA_EMU_NODE_FLAGS ?? '').split(/\s+/).filter((f) => f.length > 0)]
}
