/**
 * The launcher's view of the nodes' programs (config `program`): each node
 * reports its program's end (`program.exit`, src/host/program-runner.ts),
 * and this decides when the cluster has done its work.
 *
 * Lifetime rule: the cluster lives as long as its client programs. Once
 * every client-node program has ended with status 0, the programs are done
 * (ok); server-node programs still running then end with the cluster (they
 * serve the clients; host.signal tells them). When only server nodes run
 * programs, all of those are waited for. A program that ends with a non-zero
 * status, throws, or cannot load ends it at once (not ok), naming the node
 * and the cause. A node that exits by itself (its program called
 * process.exit) is a failed node: the Cluster's 'failed' event says so.
 */
import { EventEmitter } from 'node:events'
import type { ClusterConfig, Role } from '../config/defaults.ts'
import type { NodeExit } from './node-process.ts'

export interface ProgramExit {
  id: string
  role: Role
  program: string
  code: number
  error?: string
}

export interface ProgramsOutcome {
  ok: boolean
  /** Every program end reported so far, in order. */
  exits: ProgramExit[]
  /** The program that failed, when not ok. */
  failed?: ProgramExit
  /** One line for the user. */
  message: string
}

interface ProgramEvents {
  exit: [ProgramExit]
}

export class ProgramTracker extends EventEmitter<ProgramEvents> {
  /** Nodes that run a program, and their files. */
  readonly programs: ReadonlyMap<string, { role: Role; program: string }>
  /** The programs the cluster waits for (client programs, else server programs). */
  readonly awaited: readonly string[]
  /** Resolves when the awaited programs have all ended with 0, or at the first failure. Never, without programs. */
  readonly done: Promise<ProgramsOutcome>
  /** Every program end reported so far, in order ('exit' tells of each as it comes). */
  readonly exits: ProgramExit[] = []
  private resolveDone!: (o: ProgramsOutcome) => void
  private finished = false

  constructor(config: ClusterConfig) {
    super()
    const programs = new Map<string, { role: Role; program: string }>()
    for (const n of config.nodes) if (n.program) programs.set(n.id, { role: n.role, program: n.program })
    this.programs = programs
    const clients = [...programs].filter(([, p]) => p.role === 'client').map(([id]) => id)
    this.awaited = clients.length > 0 ? clients : [...programs.keys()]
    this.done = new Promise((r) => (this.resolveDone = r))
  }

  get hasPrograms(): boolean {
    return this.awaited.length > 0
  }

  /** A node's `program.exit` report. */
  record(report: { id: string; program: string; code: number; error?: string }, from: string): { ok: boolean } {
    const known = this.programs.get(from)
    const e: ProgramExit = { id: from, role: known?.role ?? 'client', program: report.program, code: report.code, ...(report.error ? { error: report.error } : {}) }
    this.exits.push(e)
    this.emit('exit', e)
    if (e.code !== 0) {
      this.finish({ ok: false, failed: e, message: `node ${e.id}: program ${e.program} ${e.error ?? `exited with code ${e.code}`}` })
    } else if (this.awaited.every((id) => this.exits.some((x) => x.id === id))) {
      const n = this.awaited.length
      this.finish({ ok: true, message: n === 1 ? `the program of ${this.awaited[0]} ended (exit 0)` : `all ${n} programs ended (exit 0)` })
    }
    return { ok: true }
  }

  /** What a node that exited by itself means, in words: a program's process.exit(), or a crash. */
  describeNodeExit(e: NodeExit): string {
    const p = this.programs.get(e.id)
    const how = e.signal ? `was killed by ${e.signal}` : `exited with code ${e.code}`
    if (p && !this.exits.some((x) => x.id === e.id)) return `node ${e.id}: program ${p.program} ${how}`
    return `node ${e.id} failed (${e.signal ? `killed by ${e.signal}` : `exit code ${e.code}`})`
  }

  private finish(o: Omit<ProgramsOutcome, 'exits'>): void {
    if (this.finished) return
    this.finished = true
    this.resolveDone({ ...o, exits: [...this.exits] })
  }
}
