/**
 * Run every checker whose input a run provides, in a fixed order.
 */

import { checkAtomics } from './atomics.ts'
import { checkAlive, checkLeftovers, checkOracle, type NodeLiveness, type PolicyCorruption, type ServerLeftovers } from './cluster.ts'
import { checkExactlyOnce, type ErrorAllowance } from './exactly-once.ts'
import type { FinalMemory, History } from './history.ts'
import { checkLostWrites } from './lost-write.ts'
import { checkRegisters } from './register.ts'
import type { CheckResult } from './result.ts'
import { indexWords } from './word-index.ts'

/** Everything the checkers can look at; each checker runs when its inputs are there. */
export interface CheckInput {
  /** The run's history: register and exactly-once; with `memory`, lost-write and atomics too. */
  history?: History
  /** The final memory of the MRs (after any restart). */
  memory?: FinalMemory[]
  /** The error statuses the run's faults explain (exactly-once); none when absent. */
  allowedErrors?: ErrorAllowance[]
  /** Per-server end readings (leftovers). */
  leftovers?: ServerLeftovers[]
  /** Per-node liveness at the end (alive). */
  nodes?: NodeLiveness[]
  /** The oracle's findings per policy, and the policies that permit corruption (default unsafe-gup). */
  oracle?: { runs: PolicyCorruption[]; permitted?: string[] }
}

/**
 * Run the applicable checkers: lost-write, register, atomics, exactly-once,
 * leftovers, alive, oracle (in that order, each only when its input is given).
 */
export function runCheckers(input: CheckInput): CheckResult[] {
  const results: CheckResult[] = []
  const { history, memory } = input
  if (history) {
    const index = indexWords(history)
    if (memory) results.push(checkLostWrites(history, memory, index))
    results.push(checkRegisters(history, memory ?? [], index))
    if (memory) results.push(checkAtomics(history, memory, index))
    results.push(checkExactlyOnce(history, input.allowedErrors ?? []))
  }
  if (input.leftovers) results.push(checkLeftovers(input.leftovers))
  if (input.nodes) results.push(checkAlive(input.nodes))
  if (input.oracle) results.push(checkOracle(input.oracle.runs, input.oracle.permitted))
  return results
}

/** Whether every result passed. */
export function allPassed(results: CheckResult[]): boolean {
  return results.every((r) => r.ok)
}
