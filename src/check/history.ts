/**
 * The history of a fault-injection run (Jepsen's history): every operation a
 * workload posted, with when it was posted and completed and how. Checkers
 * (src/check/*) read it with the final memory and find anomalies in it.
 *
 * Times are microseconds since the run's start on the machine's wall clock
 * (performance.timeOrigin + performance.now() in every process, minus the
 * run's start), so the operations of different client processes compare.
 *
 * Every WRITE puts a value in each 8-byte word that is unique to that
 * operation and that word (`wordValue`), so a lost, stale, duplicated or
 * misplaced write shows in the data.
 */

export type OpKind = 'write' | 'read' | 'fetchAdd' | 'cmpSwap' | 'send' | 'flush'

/** Status of an operation that was posted and never completed. */
export const PENDING = 'PENDING'

export interface HistoryOp {
  /** Unique within the run (>= 1); the WRITE value encodes it. */
  id: number
  /** The traffic stream (scenario traffic step id). */
  stream: string
  client: string
  qpn: number
  /**
   * The QP's incarnation, when a client reconnects and a QP number may be used
   * again: the QP is (client, qpn, connection). Absent means 0.
   */
  connection?: number
  op: OpKind
  /** The target MR (scenario name) and its server. */
  mr: string
  server: string
  /** Byte offset in the MR (8-aligned for atomics), and bytes. */
  offset: number
  length: number
  /** fetchAdd: the addend; cmpSwap: the swap value. */
  value?: bigint
  /** cmpSwap: the compare value. */
  compare?: bigint
  /** Atomics: the original value the responder returned (on success). */
  result?: bigint
  /** read: the 8-byte words read (little-endian), on success. */
  words?: bigint[]
  postedUs: number
  /** First completion; absent when it never completed. */
  completedUs?: number
  /** WC status name ('SUCCESS', 'RETRY_EXC_ERR' ...) or PENDING. */
  status: string
  /** Completions seen for this WR: exactly 1 when all is well. */
  completions: number
}

/** Marker in the top bits of every WRITE word value. */
const WRITE_TAG = 0xe5n << 56n
const TAG_HI = 0xe5 * 2 ** 24
const WORD_BITS = 24n

/**
 * The value operation `opId` writes into word `word` (the word's index in its
 * MR: byte offset / 8): tag | op id | word index. Unique per (op, word).
 */
export function wordValue(opId: number, word: number): bigint {
  return WRITE_TAG | (BigInt(opId) << WORD_BITS) | BigInt(word & 0xffffff)
}

/** The (op id, word index) a value encodes, or undefined when it is no WRITE value. */
export function decodeWordValue(v: bigint): { opId: number; word: number } | undefined {
  // Two BigInt operations, then plain numbers: checkers decode every word they see.
  const hi = Number(v >> 32n)
  if (hi < TAG_HI || hi > TAG_HI + 0xffffff) return undefined
  const lo = Number(BigInt.asUintN(32, v))
  return { opId: (hi & 0xffffff) * 256 + (lo >>> 24), word: lo & 0xffffff }
}

/** A completed RDMA FLUSH (or fsync) that made everything before it durable. */
export interface FlushRecord {
  mr: string
  server: string
  /**
   * When it was posted, when known. Writes acknowledged before it are certainly
   * covered; without it the checkers take `completedUs` as the boundary.
   */
  postedUs?: number
  /** When it completed successfully. */
  completedUs: number
}

/** The final memory of one MR, read at the end of the run (after any restart). */
export interface FinalMemory {
  mr: string
  server: string
  /** Word index -> initial value (as the MR held before the run's writes), for the words the run touched. */
  initial: (word: number) => bigint
  /** The MR's bytes at the end. */
  bytes: Uint8Array
}

export interface History {
  ops: HistoryOp[]
  flushes: FlushRecord[]
  /** Servers restarted (or killed) during the run, with when. */
  restarts: Array<{ server: string; atUs: number }>
}
