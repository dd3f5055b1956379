/**
 * Run every checker whose input a run provides, in a fixed order.
 */

import { checkAtomics } from './atomics.ts'
import { checkAlive, checkLeftovers, checkOracle, type NodeLiveness, type PolicyCorruption, type ServerLeftovers } from './cluster.ts'
import { checkExactlyOnce, type ErrorAllowance } from './exactly-once.ts'
import type { FinalMemory, History, HistoryOp } from './history.ts'
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
 * The same history with every operation copied into one object layout (all
 * fields, in one order). Operations built field by field have many layouts,
 * and property reads over 100,000 of them get several times slower.
 */
export function uniformHistory(history: History): History {
  const ops = history.ops.map((o): HistoryOp => ({
    id: o.id, stream: o.stream, client: o.client, qpn: o.qpn, connection: o.connection, op: o.op,
    mr: o.mr, server: o.server, offset: o.offset, length: o.length,
    value: o.value, compare: o.compare, result: o.result, words: o.words,
    postedUs: o.postedUs, completedUs: o.completedUs, status: o.status, completions: o.completions,
  }))
  return { ...history, ops }
}

/**
 * Run the applicable checkers: lost-write, register, atomics, exactly-once,
 * leftovers, alive, oracle (in that order, each only when its input is given).
 */
export function runCheckers(input: CheckInput): CheckResult[] {
  const results: CheckResult[] = []
  const { memory } = input
  if (input.history) {
    const history = uniformHistory(input.history)
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
