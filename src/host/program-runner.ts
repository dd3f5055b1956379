/**
 * A node process running the user's program (config `program`, or
 * `rdma-emu node --program FILE`): once the node is ready (with a launcher:
 * once every node of the cluster is), the program module is imported and its
 * default export (or named `main`) is called once with the node's host, the
 * way an MPI program gets its rank.
 *
 * Its exit status: the number it returns, else process.exitCode if it set
 * one, else 0; 1 when it throws, rejects, fails to load, or an exception
 * escapes it (uncaughtException). A program that calls process.exit() ends
 * the node process at once; the launcher sees the node exit with that code.
 *
 * Under a launcher the node reports the end (`program.exit`) and keeps
 * serving (its QPs and MRs stay until the cluster stops: peers may still be
 * using them); the launcher decides when the cluster ends
 * (src/launcher/program-exits.ts). Alone, the node stops when its program
 * ends and exits with the program's status.
 */
import { pathToFileURL } from 'node:url'
import { EmuError, ErrorCodes } from '../errors.ts'
import { Params } from '../params.ts'
import { localFileSystem } from '../api/file-system.ts'
import { Host, type Program, type ProgramHost } from '../api/host.ts'
import { LAUNCHER_ID } from '../launcher/protocol.ts'
import type { NodeHandle } from './node-host.ts'

export interface ProgramSpec {
  /** Absolute path of the module. */
  file: string
  args: string[]
}

export interface ProgramResult {
  code: number
  /** Why it failed, in one line (the error's name and message). */
  error?: string
}

/** One run of a node's program. */
export class ProgramRun {
  readonly spec: ProgramSpec
  /** Resolves once with how the program ended. */
  readonly done: Promise<ProgramResult>
  private settle!: (r: ProgramResult) => void
  private settled = false

  constructor(node: NodeHandle, spec: ProgramSpec) {
    this.spec = spec
    this.done = new Promise((r) => (this.settle = r))
    void this.run(node)
  }

  /** True once the program has ended (returned, thrown or failed). */
  get ended(): boolean {
    return this.settled
  }

  /** An exception escaped the program (uncaughtException, unhandled rejection): it has failed. */
  fail(err: unknown): void {
    this.finish({ code: 1, error: describeError(err) })
  }

  private finish(r: ProgramResult): void {
    if (this.settled) return
    this.settled = true
    this.settle(r)
  }

  private async run(node: NodeHandle): Promise<void> {
    let main: Program
    try {
      main = await loadProgram(this.spec.file)
    } catch (err) {
      this.finish({ code: 1, error: err instanceof EmuError ? err.message : `cannot load: ${describeError(err)}` })
      return
    }
    const host = programHost(node, this.spec)
    const before = process.exitCode
    process.exitCode = undefined
    try {
      const ret = await main(host)
      const set = process.exitCode
      const code = typeof ret === 'number' && Number.isInteger(ret) ? ret : typeof set === 'number' ? set : Number(set ?? 0) || 0
      this.finish(code === 0 ? { code } : { code, error: `exited with code ${code}` })
    } catch (err) {
      node.ctx.log.error({ err }, 'program failed')
      this.fail(err)
    } finally {
      process.exitCode = before
    }
  }
}

async function loadProgram(file: string): Promise<Program> {
  const mod = (await import(pathToFileURL(file).href)) as { default?: unknown; main?: unknown }
  const fn = typeof mod.default === 'function' ? mod.default : typeof mod.main === 'function' ? mod.main : undefined
  if (!fn) throw new EmuError(ErrorCodes.BAD_ARGUMENT, `${file} exports no function: expected \`export default async function (host) {...}\` or \`export async function main(host) {...}\``)
  return fn as Program
}

/** The program's host: the node's own device, CM and mailbox; on a server its files and counters. */
export function programHost(node: NodeHandle, spec: ProgramSpec): ProgramHost {
  const { ctx, services } = node
  const { rdma, mailbox, server } = services
  const abort = new AbortController()
  ctx.onShutdown(() => abort.abort(new EmuError(ErrorCodes.NODE_FAILED, `node ${ctx.id} is shutting down`)))
  const host = new Host({
    id: ctx.id,
    nodes: ctx.cluster.nodes.map((n) => ({ id: n.id, role: n.role })),
    control: ctx.control,
    device: rdma.device,
    cm: rdma.cm,
    mailbox,
    log: ctx.log.child({ program: spec.file }),
  })
  const extra = { role: ctx.role, program: spec.file, args: [...spec.args], signal: abort.signal, runDir: ctx.runDir, dataDir: ctx.dataDir }
  if (ctx.role === 'server' && server) {
    const fs = localFileSystem(server.files)
    return Object.assign(host, extra, { role: 'server' as const, fs, counters: async () => server.stats() })
  }
  return Object.assign(host, extra, { role: 'client' as const })
}

/**
 * Run `spec` on a started node and see its end through: report it to the
 * launcher (the node keeps serving until the cluster stops), or, alone, stop
 * the node with the program's status. A failed program's cause goes to the
 * node's stderr and log.
 */
export function runNodeProgram(node: NodeHandle, spec: ProgramSpec, launcher: boolean): ProgramRun {
  const { ctx } = node
  ctx.log.info({ program: spec.file, args: spec.args }, 'program starting')
  const run = new ProgramRun(node, spec)
  void run.done.then(async (r) => {
    if (r.code === 0) ctx.log.info({ program: spec.file }, 'program ended')
    else {
      ctx.log.error({ program: spec.file, code: r.code, error: r.error }, 'program failed')
      process.stderr.write(`rdma-emu: node ${ctx.id}: program ${spec.file} ${r.error ?? `exited with code ${r.code}`}\n`)
    }
    if (!launcher) {
      await node.stop(r.code, 'program ended')
      return
    }
    try {
      await ctx.control.request(LAUNCHER_ID, 'program.exit', { id: ctx.id, program: spec.file, code: r.code, ...(r.error ? { error: r.error } : {}) }, Params.programExitReportMs)
    } catch (err) {
      // The launcher is gone: the node's orphan watch ends it.
      ctx.log.warn({ err }, 'program end not reported to the launcher')
    }
  })
  return run
}

/** One line: what was thrown. */
export function describeError(err: unknown): string {
  if (err instanceof Error) {
    const where = err.stack?.split('\n').find((l) => l.trim().startsWith('at '))?.trim()
    const what = err instanceof EmuError ? `EmuError ${err.code}: ${err.message}` : `${err.name}: ${err.message}`
    return `threw ${what}${where ? ` (${where})` : ''}`
  }
  return `threw ${String(err)}`
}
