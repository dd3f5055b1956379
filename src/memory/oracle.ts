/**
 * The corruption oracle: who owns each frame, and did a DMA land in a frame
 * its memory registration no longer owns?
 *
 * Shared part (workers): `owner` Int32Array(D+R) with the current owner of each
 * frame (an inode number > 0, or OWNER_FREE / OWNER_ANON / OWNER_ORPHAN), global
 * counters in a BigInt64Array, and per-frame pending byte/event counters that
 * checkDma bumps with Atomics. Main-thread part: the ownership history with
 * timestamps, inode names, and per-victim totals. When a frame changes owner the
 * main thread folds the frame's pending counters into the previous owner's
 * totals, so a victim is the owner at the time of the stray DMA.
 * (Benign race: a stray DMA racing the very ownership change may be charged to
 * the new owner.)
 */
import { EmuError, ErrorCodes } from '../errors.ts'
import { Params } from '../params.ts'

/** Unallocated device block or RAM frame. */
export const OWNER_FREE = 0
/** Anonymous memory. */
export const OWNER_ANON = -1
/** A page-cache page dropped from its file while pinned (writes there are lost, not corrupting). */
export const OWNER_ORPHAN = -2

export type DmaKind = 'write' | 'read' | 'atomic' | 'flush'

/** Indices into the counters BigInt64Array. */
export const OracleCounter = {
  /** Stray write/atomic DMAs (count and bytes). */
  CORRUPT_EVENTS: 0,
  CORRUPT_BYTES: 1,
  /** ... of which the frame belonged to another file / was free / orphan / anon memory. */
  FILE_BYTES: 2,
  FREE_BYTES: 3,
  ORPHAN_BYTES: 4,
  ANON_BYTES: 5,
  /** Stray reads (information leaks) and flushes. */
  LEAK_EVENTS: 6,
  LEAK_BYTES: 7,
  CHECKS: 8,
} as const
const N_COUNTERS = 9

export interface OracleDesc {
  ownerSab: SharedArrayBuffer
  counterSab: SharedArrayBuffer
  pendBytesSab: SharedArrayBuffer
  pendEventsSab: SharedArrayBuffer
  deviceFrames: number
}

export interface OwnerChange {
  ts: number
  frame: number
  from: number
  to: number
  cause: string
}

export interface VictimReport {
  /** File name, or 'free' / 'orphan' / 'anon'. */
  victim: string
  ino: number
  bytes: number
  events: number
}

export interface OracleReport {
  corruptEvents: number
  corruptBytes: number
  fileBytes: number
  freeBytes: number
  orphanBytes: number
  anonBytes: number
  leakEvents: number
  leakBytes: number
  checks: number
  victims: VictimReport[]
}

export class Oracle {
  readonly owner: Int32Array
  readonly counters: BigInt64Array
  /** Stray write bytes per frame not yet folded into victim totals. */
  readonly pendBytes: BigInt64Array
  readonly pendEvents: Int32Array
  readonly deviceFrames: number
  private readonly desc: OracleDesc
  private readonly isMain: boolean
  private readonly names = new Map<number, string>()
  private readonly victimBytes = new Map<number, { bytes: number; events: number }>()
  private readonly history: OwnerChange[] = []
  private readonly historyLimit: number
  private readonly clock: () => number

  constructor(
    totalFrames: number,
    deviceFrames: number,
    opts: { historyLimit?: number; clock?: () => number } = {},
    shared?: OracleDesc,
  ) {
    this.isMain = !shared
    this.desc = shared ?? {
      ownerSab: new SharedArrayBuffer(4 * totalFrames),
      counterSab: new SharedArrayBuffer(8 * N_COUNTERS),
      pendBytesSab: new SharedArrayBuffer(8 * totalFrames),
      pendEventsSab: new SharedArrayBuffer(4 * totalFrames),
      deviceFrames,
    }
    this.deviceFrames = this.desc.deviceFrames
    this.owner = new Int32Array(this.desc.ownerSab)
    this.counters = new BigInt64Array(this.desc.counterSab)
    this.pendBytes = new BigInt64Array(this.desc.pendBytesSab)
    this.pendEvents = new Int32Array(this.desc.pendEventsSab)
    this.historyLimit = opts.historyLimit ?? Params.oracleHistoryLimit
    this.clock = opts.clock ?? Date.now
  }

  /** Worker side: checkDma and currentOwner only. */
  static fromShared(desc: OracleDesc): Oracle {
    return new Oracle(desc.ownerSab.byteLength / 4, desc.deviceFrames, {}, desc)
  }

  shared(): OracleDesc {
    return this.desc
  }

  currentOwner(frame: number): number {
    return Atomics.load(this.owner, frame)
  }

  /**
   * Data path check, callable from any thread. True when `frame` is still owned
   * by `expectedIno` (an inode number, or OWNER_ANON for anonymous MRs).
   * Otherwise the DMA is counted: write/atomic as corruption, read/flush as a leak.
   */
  checkDma(frame: number, expectedIno: number, bytes: number, kind: DmaKind): boolean {
    Atomics.add(this.counters, OracleCounter.CHECKS, 1n)
    const cur = Atomics.load(this.owner, frame)
    if (cur === expectedIno) return true
    const b = BigInt(bytes)
    if (kind === 'read' || kind === 'flush') {
      Atomics.add(this.counters, OracleCounter.LEAK_EVENTS, 1n)
      Atomics.add(this.counters, OracleCounter.LEAK_BYTES, b)
      return false
    }
    Atomics.add(this.counters, OracleCounter.CORRUPT_EVENTS, 1n)
    Atomics.add(this.counters, OracleCounter.CORRUPT_BYTES, b)
    const idx = cur > 0 ? OracleCounter.FILE_BYTES
      : cur === OWNER_FREE ? OracleCounter.FREE_BYTES
        : cur === OWNER_ORPHAN ? OracleCounter.ORPHAN_BYTES
          : OracleCounter.ANON_BYTES
    Atomics.add(this.counters, idx, b)
    Atomics.add(this.pendBytes, frame, b)
    Atomics.add(this.pendEvents, frame, 1)
    return false
  }

  private requireMain(what: string): void {
    if (!this.isMain) throw new EmuError(ErrorCodes.EINVAL, `oracle.${what} is main-thread only`)
  }

  /** Record an ownership change (main thread; fs calls this through its owner hook). */
  setOwner(frame: number, to: number, cause: string, name?: string): void {
    this.requireMain('setOwner')
    if (to > 0 && name !== undefined) this.names.set(to, name)
    const from = Atomics.load(this.owner, frame)
    this.fold(frame, from)
    Atomics.store(this.owner, frame, to)
    if (from === to) return
    this.history.push({ ts: this.clock(), frame, from, to, cause })
    if (this.history.length > this.historyLimit) this.history.splice(0, this.history.length - this.historyLimit)
  }

  /** Remember an inode's name (for reports), e.g. on create. */
  nameInode(ino: number, name: string): void {
    this.names.set(ino, name)
  }

  private fold(frame: number, ownerVal: number): void {
    const b = Atomics.exchange(this.pendBytes, frame, 0n)
    const e = Atomics.exchange(this.pendEvents, frame, 0)
    if (b === 0n && e === 0) return
    const v = this.victimBytes.get(ownerVal) ?? { bytes: 0, events: 0 }
    v.bytes += Number(b)
    v.events += e
    this.victimBytes.set(ownerVal, v)
  }

  /** Ownership changes of one frame, oldest first. */
  historyOf(frame: number): OwnerChange[] {
    return this.history.filter((h) => h.frame === frame)
  }

  allHistory(): readonly OwnerChange[] {
    return this.history
  }

  /** Owner of a frame at time ts, from the history (current owner if no change after ts). */
  ownerAt(frame: number, ts: number): number {
    let owner = this.currentOwner(frame)
    for (let i = this.history.length - 1; i >= 0; i--) {
      const h = this.history[i]!
      if (h.frame === frame && h.ts > ts) owner = h.from
    }
    return owner
  }

  victimName(ownerVal: number): string {
    if (ownerVal === OWNER_FREE) return 'free'
    if (ownerVal === OWNER_ORPHAN) return 'orphan'
    if (ownerVal === OWNER_ANON) return 'anon'
    return this.names.get(ownerVal) ?? `ino:${ownerVal}`
  }

  counter(i: number): number {
    return Number(Atomics.load(this.counters, i))
  }

  /** Main thread: totals plus per-victim bytes, victims named by file name. */
  report(): OracleReport {
    this.requireMain('report')
    const per = new Map<number, { bytes: number; events: number }>()
    for (const [k, v] of this.victimBytes) per.set(k, { ...v })
    for (let f = 0; f < this.owner.length; f++) {
      const b = Atomics.load(this.pendBytes, f)
      const e = Atomics.load(this.pendEvents, f)
      if (b === 0n && e === 0) continue
      const o = Atomics.load(this.owner, f)
      const v = per.get(o) ?? { bytes: 0, events: 0 }
      v.bytes += Number(b)
      v.events += e
      per.set(o, v)
    }
    const victims = [...per].map(([ino, v]) => ({ victim: this.victimName(ino), ino, bytes: v.bytes, events: v.events }))
    victims.sort((a, b) => b.bytes - a.bytes)
    const c = (i: number) => this.counter(i)
    return {
      corruptEvents: c(OracleCounter.CORRUPT_EVENTS),
      corruptBytes: c(OracleCounter.CORRUPT_BYTES),
      fileBytes: c(OracleCounter.FILE_BYTES),
      freeBytes: c(OracleCounter.FREE_BYTES),
      orphanBytes: c(OracleCounter.ORPHAN_BYTES),
      anonBytes: c(OracleCounter.ANON_BYTES),
      leakEvents: c(OracleCounter.LEAK_EVENTS),
      leakBytes: c(OracleCounter.LEAK_BYTES),
      checks: c(OracleCounter.CHECKS),
      victims,
    }
  }
}
