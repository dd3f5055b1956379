/**
 * The run's fault registry: the fault log (every fault started and ended),
 * the faults on and how to end them, the storage faults per server, the
 * nodes a step took down, and the seeds faults derive from the run's seed.
 */
import type { NodeBody } from '../../fabric/node-messages.ts'

/** One entry of the fault log: a fault started or ended. */
export interface FaultLogEntry {
  fault: string
  kind: string
  action: 'start' | 'end'
  /** The step that did it, and when the scenario planned it (ms from the start; absent: in turn). */
  step: number
  plannedMs?: number
  /** When it really happened (ms from the start). */
  atMs: number
  targets: string[]
  seed?: number
  spec?: unknown
}

/** A fault that is on, and how to end it. */
export interface ActiveFault {
  id: string
  kind: string
  step: number
  targets: string[]
  end(): Promise<void>
}

/** The run's fault registry (one per run, on the RunContext). */
export class FaultBook {
  readonly log: FaultLogEntry[] = []
  readonly active = new Map<string, ActiveFault>()
  /** Storage faults on, per server. */
  readonly storage = new Map<string, Map<string, NodeBody<'fs.faults'>>>()
  /** Nodes killed or stopped by a step (and not restarted since). */
  readonly down = new Set<string>()
  /** Nodes ever killed (the alive checker leaves them out). */
  readonly killed = new Set<string>()
  /** Servers restarted, with when (µs from the start). */
  readonly restarts: Array<{ server: string; atUs: number }> = []
}

/** Decisions per (rule, link) the reproducible fault log keeps. */
export const REPRODUCIBLE_DECISIONS = 32

/** A 32-bit seed for step `i`, derived from the run's seed. */
export function deriveSeed(runSeed: number, i: number): number {
  let h = Math.imul((runSeed ^ 0x9e3779b9) >>> 0, 0x85ebca6b) ^ Math.imul(i + 1, 0xc2b2ae35)
  h ^= h >>> 16
  h = Math.imul(h, 0x27d4eb2f)
  return (h ^ (h >>> 15)) >>> 0
}

