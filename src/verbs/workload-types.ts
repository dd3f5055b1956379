import type { HistoryOp } from '../check/history.ts'

/** The types of runWorkload (src/verbs/workload.ts) and its checked mode (src/verbs/workload-checked.ts). */

export type MixOp = 'write' | 'read' | 'fetchAdd' | 'cmpSwap' | 'send'

export interface WorkloadMixEntry {
  op: MixOp
  /** Relative weight (>= 0); each operation is drawn with probability weight / sum. */
  weight: number
}

/** Where a checked workload's records belong (HistoryOp fields), and the run's clock. */
export interface WorkloadHistorySpec {
  stream: string
  mr: string
  server: string
  client: string
  /** Id of the first operation (>= 1); operation i has id firstOpId + i (flushes included). */
  firstOpId: number
  /** The run's start, epoch ms (performance.timeOrigin + performance.now() of the process that started it). */
  t0EpochMs: number
  /** Base address (iova) of the target MR: offsets in the records are remoteAddr - mrIova. */
  mrIova: number
}

/** One sample of the client device's requester counters, cumulative since the workload started. */
export interface WorkloadSample {
  /** µs since the run start (t0EpochMs). */
  tUs: number
  /** Retransmission episodes: timeoutRetries + nakRetries (go-back-N restarts, not packets). */
  retransmissions: number
  timeoutRetries: number
  nakRetries: number
  rnrRetries: number
  /** Sequence NAKs the requester acted on or ignored (nakRetries + duplicateNaks). */
  naks: number
  /** WRs of this workload completed (first completions) and completed in error, so far. */
  completed: number
  errors: number
}

/**
 * A closed-loop workload on one QP (the perftest loop): keep `window` WRs
 * outstanding until `count` have completed, every one signaled, and report
 * completion counts and per-operation latencies. With `durationMs` (perftest
 * -D) the loop stops posting once that much time has passed (or `count`
 * operations were posted, whichever comes first) and returns when the
 * outstanding ones have completed. Used by the remote `verbs.workload`
 * command, so a client host process can drive load itself.
 *
 * Early stop: when `opts.signal` is aborted (verbs.workload.stop, or a
 * layout-lease break on the MR the workload targets) no new operation is
 * posted; the loop returns once the outstanding ones have completed, with
 * `stopped` set and how far it got (`posted`, `completed`).
 *
 * Checked mode (`history` set; src/verbs/workload-checked.ts): a seeded mix
 * of operations, every WR recorded as a HistoryOp, FLUSHes every
 * `flushEvery` operations, counter samples every `sampleMs`; an error stops
 * posting and the loop drains the rest (it does not stop at the first error).
 */
export interface WorkloadSpec {
  opcode: number
  /** Operations to run; with `durationMs`, the most to run. */
  count: number
  /** Run for this long (ms) instead of until `count` operations completed. */
  durationMs?: number
  /** Outstanding WRs (perftest -t tx depth). */
  window: number
  /** Bytes per operation (8 for atomics). */
  size: number
  remoteAddr: number
  rkey: number
  /** Remote bytes the operations may spread over (each op at remoteAddr + (i*size) % span); default size. */
  span?: number
  compareAdd?: bigint
  swap?: bigint
  imm?: number
  /** perftest -Q: signal only every N-th WR (and the last); default 1 (src/verbs/workload-moderated.ts). */
  signalEvery?: number
  /** perftest -l: WRs per postSend call (a multiple of signalEvery); default 1. */
  postList?: number
  /** perftest -e: wait for completions on a completion channel (reqNotify) instead of awaiting the CQ. */
  events?: boolean

  // ---- checked mode (history set) ----
  /** Record every WR as a HistoryOp: where the records belong, and the run's clock. Turns checked mode on. */
  history?: WorkloadHistorySpec
  /** Operations drawn per operation by weight (default: the one of `opcode`). */
  mix?: WorkloadMixEntry[]
  /** Seed of the PRNG that draws operations and addresses (default 1). */
  seed?: number
  /** Bytes of each READ (multiple of 8; default size). WRITEs are `size` bytes (multiple of 8). */
  readSize?: number
  /** Bytes of each SEND (multiple of 8; default size). */
  sendSize?: number
  /**
   * Where the server's receives land, for `send` in the mix: an SGE of a
   * server MR (not the target range). The verbs.workload service posts
   * receives on the peer QP ahead of the SENDs and polls their completions.
   */
  recv?: { stag: number; offset: number; length: number }
  /** The FETCH_ADD words: `atomicSpan` (default 1) words at MR offset `atomicOffset` (8-aligned, outside the write/read range). */
  atomicOffset?: number
  atomicSpan?: number
  /** The CMP_SWAP words (default: the FETCH_ADD words). */
  casOffset?: number
  casSpan?: number
  /** FETCH_ADD addend (default 1). */
  addend?: bigint
  /** What the atomic words hold before the run (the first CMP_SWAP compare; default 0). */
  atomicInitial?: bigint
  /** Post an RDMA FLUSH over the range the workload touches after every N operations (default 0: none). */
  flushEvery?: number
  /**
   * Its placement type: 1 global visibility, 2 persistence, 3 both (default 1;
   * the MR needs the matching FLUSH rights, and only persistent memory holds
   * FLUSH_PERSISTENT: flushPltFor in workload-plan.ts picks it from the MR's access).
   */
  flushPlt?: number
  /** Once posting stops, wait this long (ms) for the outstanding WRs (default 10000); the rest stay PENDING. */
  drainMs?: number
  /** Sample the device's requester counters every this many ms (default 50; 0: none). */
  sampleMs?: number
}

export interface WorkloadResult {
  completed: number
  /** Operations posted (== completed unless the loop ended on an error). */
  posted: number
  /** Stopped early through the abort signal (its reason in stopReason). */
  stopped: boolean
  stopReason?: string
  errors: number
  firstError?: number
  elapsedMs: number
  /** Post-to-completion time of every operation, in microseconds. */
  latenciesUs: number[]
  /** Atomic results (original values), when the opcode is an atomic. */
  atomicResults?: bigint[]
  /** The local buffer the verbs.workload service registered for the run (its STag and address), when run through it. */
  localMr?: { stag: number; iova: number }
  /** With signalEvery, postList or events: completions polled, CQ events taken, postSend calls made. */
  polled?: number
  cqEvents?: number
  postCalls?: number

  // ---- checked mode ----
  /** Every WR posted, in posting order (wrId = op id = history.firstOpId + index). */
  history?: HistoryOp[]
  samples?: WorkloadSample[]
  /** FLUSHes that completed successfully. */
  flushes?: number
  /** WRs posted that never completed within the drain time (status PENDING). */
  pending?: number
  /** Every posted WR completed (pending 0). */
  drained?: boolean
  /** Why posting ended: 'count reached', 'duration reached', the first error, 'stopped: ...', a post failure or a stall. */
  endReason?: string
  /** Completions beyond the first of a WR, and completions for no WR of this workload. */
  duplicateCompletions?: number
  strayCompletions?: number
  /** SENDs posted, and receive completions the peer's QP gave (successful ones) by the end. */
  sends?: number
  sendsReceived?: number
}

export interface WorkloadOptions {
  /** Abort to stop posting; the outstanding operations still complete. */
  signal?: AbortSignal
  /** Checked mode with `send` in the mix: posts `n` receives on the peer QP, and polls its receive CQ (returns the successful receive completions). */
  receiver?: WorkloadReceiver
}

export interface WorkloadReceiver {
  post(n: number): Promise<void>
  poll(): Promise<number>
}
