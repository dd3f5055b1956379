/**
 * The checkers of a fault-injection run (Jepsen-style): pure functions over a
 * run's history, its final memory and the cluster's end state.
 */

export * from './history.ts'
export * from './result.ts'
export { checkLostWrites } from './lost-write.ts'
export { checkRegisters, type InitialValues } from './register.ts'
export { checkAtomics } from './atomics.ts'
export { checkExactlyOnce, WR_FLUSH_ERR, type ErrorAllowance } from './exactly-once.ts'
export * from './cluster.ts'
export { runCheckers, allPassed, uniformHistory, type CheckInput } from './run.ts'
export { formatResults, formatAnomaly, formatOp, resultsToJSON } from './format.ts'
export { indexWords, Durability, type WordIndex, type WordOps } from './word-index.ts'
