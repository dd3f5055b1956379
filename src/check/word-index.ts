/**
 * Indexes shared by the data checkers: the operations of a history by MR and
 * 8-byte word, what a word's value means (which WRITE wrote it), and which
 * acknowledged writes a server restart may have taken away (durability).
 */

import { decodeWordValue, type FinalMemory, type History, type HistoryOp } from './history.ts'

/** The status of an acknowledged operation. */
export const SUCCESS = 'SUCCESS'

/** An operation acknowledged with success: it took effect exactly once (or the history is wrong). */
export function acked(op: HistoryOp): boolean {
  return op.status === SUCCESS
}

/**
 * When `op` certainly finished: its completion if acknowledged, +Infinity
 * otherwise (an error or PENDING operation is indeterminate, Jepsen's :info:
 * it may take effect at any time after it was posted).
 */
export function finishedUs(op: HistoryOp): number {
  return acked(op) && op.completedUs !== undefined ? op.completedUs : Infinity
}

/** The key of an MR: its server and name. */
export function mrKey(server: string, mr: string): string {
  return `${server}\u0000${mr}`
}

/** The words [first, last] a byte range covers fully (last < first when none). */
export function fullWords(offset: number, length: number): { first: number; last: number } {
  return { first: Math.ceil(offset / 8), last: Math.floor((offset + length) / 8) - 1 }
}

/** The words [first, last] a byte range touches at all. */
export function touchedWords(offset: number, length: number): { first: number; last: number } {
  if (length <= 0) return { first: 0, last: -1 }
  return { first: Math.floor(offset / 8), last: Math.floor((offset + length - 1) / 8) }
}

/** Everything the history did to one 8-byte word. */
export interface WordOps {
  word: number
  /** WRITEs covering the whole word. */
  writes: HistoryOp[]
  /** A WRITE covered only part of the word: its value is a mix, not checkable. */
  partial: boolean
  /** FETCH_ADDs and CMP_SWAPs on the word. */
  atomics: HistoryOp[]
  /** Successful READs of the word, with the index of the word in `op.words`. */
  reads: Array<{ op: HistoryOp; i: number }>
}

/** Per MR (mrKey) and word index. */
export interface WordIndex {
  mrs: Map<string, { server: string; mr: string; words: Map<number, WordOps> }>
  /** Operations by id. */
  byId: Map<number, HistoryOp>
  /** READs that could not be indexed by word (offset not 8-aligned, words missing). */
  unalignedReads: number
  /** Successful READs indexed by word. */
  readOps: number
  /** What restarts and FLUSHes did to the acknowledged writes. */
  durability: Durability
}

/** Index every WRITE, atomic and successful READ of the history by MR and word. */
export function indexWords(history: History): WordIndex {
  const mrs: WordIndex['mrs'] = new Map()
  const byId = new Map<number, HistoryOp>()
  const flushOps: HistoryOp[] = []
  let unalignedReads = 0
  let readOps = 0
  let lastKey = ''
  let words = new Map<number, WordOps>()
  const at = (w: number): WordOps => {
    let wo = words.get(w)
    if (!wo) words.set(w, (wo = { word: w, writes: [], partial: false, atomics: [], reads: [] }))
    return wo
  }
  for (const op of history.ops) {
    byId.set(op.id, op)
    if (op.op === 'flush') { flushOps.push(op); continue }
    if (op.op === 'send') continue
    const key = mrKey(op.server, op.mr)
    if (key !== lastKey) {
      let m = mrs.get(key)
      if (!m) mrs.set(key, (m = { server: op.server, mr: op.mr, words: new Map() }))
      words = m.words
      lastKey = key
    }
    if (op.op === 'write') {
      const t = touchedWords(op.offset, op.length)
      const f = fullWords(op.offset, op.length)
      for (let w = t.first; w <= t.last; w++) {
        const wo = at(w)
        if (w >= f.first && w <= f.last) wo.writes.push(op)
        else wo.partial = true
      }
    } else if (op.op === 'fetchAdd' || op.op === 'cmpSwap') {
      at(Math.floor(op.offset / 8)).atomics.push(op)
    } else if (op.op === 'read' && acked(op)) {
      if (op.offset % 8 !== 0 || !op.words) {
        unalignedReads++
        continue
      }
      readOps++
      const first = op.offset / 8
      const n = Math.min(op.words.length, Math.floor(op.length / 8))
      for (let i = 0; i < n; i++) at(first + i).reads.push({ op, i })
    }
  }
  return { mrs, byId, unalignedReads, readOps, durability: new Durability(history, flushOps) }
}

/** What a word's value is: a WRITE's value for this word, the initial value, or neither. */
export type WordMeaning =
  | { kind: 'write'; op: HistoryOp }
  | { kind: 'initial' }
  /** A WRITE's value, but for another word or MR: `op` wrote it to word `word` of its MR. */
  | { kind: 'misplaced'; op: HistoryOp; word: number }
  /** No WRITE's value at all. */
  | { kind: 'unknown' }

/** Whether WRITE `op` covers word `word` of its MR fully. */
function covers(op: HistoryOp, word: number): boolean {
  return word * 8 >= op.offset && word * 8 + 8 <= op.offset + op.length
}

/** Decode value `v` found in word `word` of MR (server, mr). */
export function meaning(
  index: WordIndex,
  server: string,
  mr: string,
  word: number,
  v: bigint,
  initial: bigint | undefined,
): WordMeaning {
  const d = decodeWordValue(v)
  if (d) {
    const op = index.byId.get(d.opId)
    if (op && op.op === 'write') {
      // The value carries the word index modulo 2^24.
      const mine = op.server === server && op.mr === mr && covers(op, word) && (word & 0xffffff) === d.word
      if (mine) return { kind: 'write', op }
      if (v !== initial) {
        // Where op put this value: the covered word of op's range with that index (mod 2^24).
        const f = fullWords(op.offset, op.length)
        for (let w = f.first; w <= f.last; w++) if ((w & 0xffffff) === d.word) return { kind: 'misplaced', op, word: w }
      }
    }
  }
  if (initial !== undefined && v === initial) return { kind: 'initial' }
  return { kind: 'unknown' }
}

/** Read word `word` (little-endian 64-bit) of a final memory, or undefined past its end. */
export function finalWord(mem: FinalMemory, word: number): bigint | undefined {
  const at = word * 8
  if (at + 8 > mem.bytes.length) return undefined
  let v = 0n
  for (let i = 7; i >= 0; i--) v = (v << 8n) | BigInt(mem.bytes[at + i])
  return v
}

/** The first index in ascending `xs` whose value is >= t (xs.length when none). */
export function lowerBound(xs: ArrayLike<number>, t: number): number {
  let lo = 0
  let hi = xs.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (xs[mid] < t) lo = mid + 1
    else hi = mid
  }
  return lo
}

/**
 * Which acknowledged writes a server restart may have taken away.
 *
 * After a restart the server's memory holds only what was persisted. An
 * acknowledged write is *durable* when no restart of its server followed its
 * posting, or when a successful FLUSH (or fsync) of its MR whose boundary came
 * after the write completed finished before the first restart that followed
 * it. The boundary of a FLUSH is when it was posted when the history knows it
 * (`FlushRecord.postedUs`, or a 'flush' operation), else when it completed: a
 * write that completed while the FLUSH was in flight is not counted as
 * covered. A write that is not durable is *unflushed*: guaranteed in memory
 * only until that restart (`durableUntil`).
 */
export class Durability {
  /** Restart times per server, ascending. */
  private readonly restarts = new Map<string, number[]>()
  /** Successful flushes per MR: [boundary, completedUs]. */
  private readonly flushes = new Map<string, Array<[number, number]>>()

  /**
   * `flushOps`: the history's 'flush' operations, when the caller already
   * picked them out (else the history's operations are scanned for them).
   */
  constructor(history: Pick<History, 'ops' | 'flushes' | 'restarts'>, flushOps: HistoryOp[] = history.ops) {
    for (const r of history.restarts) {
      const l = this.restarts.get(r.server) ?? []
      l.push(r.atUs)
      this.restarts.set(r.server, l)
    }
    for (const l of this.restarts.values()) l.sort((a, b) => a - b)
    const addFlush = (server: string, mr: string, boundary: number, completed: number) => {
      const k = mrKey(server, mr)
      const l = this.flushes.get(k) ?? []
      l.push([boundary, completed])
      this.flushes.set(k, l)
    }
    for (const f of history.flushes) addFlush(f.server, f.mr, f.postedUs ?? f.completedUs, f.completedUs)
    for (const op of flushOps) {
      if (op.op === 'flush' && acked(op) && op.completedUs !== undefined) addFlush(op.server, op.mr, op.postedUs, op.completedUs)
    }
  }

  /** Whether the server restarted at all. */
  restarted(server: string): boolean {
    return (this.restarts.get(server)?.length ?? 0) > 0
  }

  /** Restarts of `server` strictly before time t. */
  epoch(server: string, t: number): number {
    const l = this.restarts.get(server)
    return l ? lowerBound(l, t) : 0
  }

  /** The time of the restart number `e` (0-based) of `server`, Infinity when there is none. */
  restartAt(server: string, e: number): number {
    return this.restarts.get(server)?.[e] ?? Infinity
  }

  /** The latest flush boundary of an MR among the flushes completed before time t (-Infinity when none). */
  flushBoundary(server: string, mr: string, t: number): { boundary: number; completedUs: number } | undefined {
    let best: { boundary: number; completedUs: number } | undefined
    for (const [boundary, completedUs] of this.flushes.get(mrKey(server, mr)) ?? []) {
      if (completedUs < t && (!best || boundary > best.boundary)) best = { boundary, completedUs }
    }
    return best
  }

  /**
   * Until when acknowledged write `op` is guaranteed in memory: Infinity when
   * durable, else the time of the first restart after it was posted.
   */
  durableUntil(op: HistoryOp): number {
    const e = this.epoch(op.server, op.postedUs)
    const r = this.restartAt(op.server, e)
    if (r === Infinity) return Infinity
    const f = this.flushBoundary(op.server, op.mr, r)
    const done = op.completedUs ?? Infinity
    return f && done < f.boundary ? Infinity : r
  }
}
