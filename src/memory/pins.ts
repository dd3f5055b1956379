/**
 * Page pins, like Linux FOLL_PIN / FOLL_LONGTERM (mm/gup.c).
 *
 * Each frame has a refcount word in an Int32Array over a SharedArrayBuffer.
 * A pin adds GUP_PIN_COUNTING_BIAS (Params.gupPinCountingBias, 1024), as
 * try_grab_folio() does, so `refcount / 1024` is the exact pin count and
 * `refcount >= 1024` is page_maybe_dma_pinned(). Workers may read the table;
 * pins are taken and dropped on the main thread, which also keeps the
 * per-owner tally (MR handle, client node id ...) used by releaseOwner().
 *
 * Plain page references (get_page / put_page, what FOLL_GET or a kernel path
 * holds without FOLL_PIN) add 1 each, so the word is `pins * 1024 + refs`
 * and the pin count stays exact below 1024 references. Only the DAX layout
 * wait (fs/dax.c dax_layout_busy_page_range: any refcount beyond the
 * mapping's own) looks at them; the pin policies see pins only.
 *
 * Counters mirror /proc/vmstat nr_foll_pin_acquired / nr_foll_pin_released:
 * one per page pin, so acquired == released once every pin is dropped.
 */
import { EmuError, ErrorCodes } from '../errors.ts'
import { Params } from '../params.ts'
import { PageFlags, type PhysMem } from './phys.ts'

export type PinOwner = string | number

export interface PinOptions {
  /** Who holds the pins (MR handle, client node id). Default 'anon'. */
  owner?: PinOwner
  /** FOLL_LONGTERM. */
  longterm?: boolean
  /** FOLL_WRITE: the page is made dirty now (write fault), as a writable GUP does. */
  write?: boolean
}

/** Indices into the counters BigInt64Array. */
export const PinCounter = {
  FOLL_PIN_ACQUIRED: 0,
  FOLL_PIN_RELEASED: 1,
  LONGTERM_ACQUIRED: 2,
  LONGTERM_RELEASED: 3,
  OWNERS_RELEASED: 4,
} as const
const N_COUNTERS = 5

export interface PinsDesc {
  bias: number
  refSab: SharedArrayBuffer
  counterSab: SharedArrayBuffer
}

export interface PinStats {
  nr_foll_pin_acquired: number
  nr_foll_pin_released: number
  longterm_acquired: number
  longterm_released: number
  owners_released: number
  pinned_frames: number
}

interface OwnerTally {
  /** frame -> [pins, longterm pins, write pins] */
  frames: Map<number, [number, number, number]>
}

export class PinTable {
  readonly bias: number
  /** Refcount per frame (multiples of `bias`). Read with Atomics.load. */
  readonly ref: Int32Array
  readonly counters: BigInt64Array
  private readonly refSab: SharedArrayBuffer
  private readonly counterSab: SharedArrayBuffer
  private readonly phys: PhysMem | null
  private readonly owners = new Map<PinOwner, OwnerTally>()
  private readonly releaseListeners: Array<(frame: number) => void> = []
  private readonly idleListeners: Array<(frame: number) => void> = []
  private readonly clock: () => number

  constructor(phys: PhysMem, opts: { bias?: number; clock?: () => number } = {}, shared?: PinsDesc) {
    this.phys = phys
    this.clock = opts.clock ?? Date.now
    if (shared) {
      this.bias = shared.bias
      this.refSab = shared.refSab
      this.counterSab = shared.counterSab
    } else {
      this.bias = opts.bias ?? Params.gupPinCountingBias
      this.refSab = new SharedArrayBuffer(4 * phys.totalFrames)
      this.counterSab = new SharedArrayBuffer(8 * N_COUNTERS)
    }
    this.ref = new Int32Array(this.refSab)
    this.counters = new BigInt64Array(this.counterSab)
  }

  /** Worker side: read-only use (pinCount / isPinned). */
  static fromShared(phys: PhysMem, desc: PinsDesc): PinTable {
    return new PinTable(phys, {}, desc)
  }

  shared(): PinsDesc {
    return { bias: this.bias, refSab: this.refSab, counterSab: this.counterSab }
  }

  /** Raw refcount beyond the mapping's own: pins * bias + plain references. */
  refcount(frame: number): number {
    return Atomics.load(this.ref, frame)
  }

  /** Exact number of pins on the frame. */
  pinCount(frame: number): number {
    return Math.floor(Atomics.load(this.ref, frame) / this.bias)
  }

  /** page_maybe_dma_pinned(). */
  isPinned(frame: number): boolean {
    return frame >= 0 && Atomics.load(this.ref, frame) >= this.bias
  }

  anyPinned(frames: Iterable<number>): boolean {
    for (const f of frames) if (this.isPinned(f)) return true
    return false
  }

  /** Any extra reference, pin or plain (not dax_page_is_idle()). */
  isBusy(frame: number): boolean {
    return frame >= 0 && Atomics.load(this.ref, frame) > 0
  }

  anyBusy(frames: Iterable<number>): boolean {
    for (const f of frames) if (this.isBusy(f)) return true
    return false
  }

  /** get_page(): one plain reference per listed frame. EFAULT (nothing taken) for a bad frame. */
  getPages(frames: readonly number[]): void {
    const phys = this.phys!
    for (const f of frames) {
      if (!Number.isInteger(f) || f < 0 || f >= phys.totalFrames || !phys.isAllocated(f)) throw new EmuError(ErrorCodes.EFAULT, `cannot reference frame ${f}`)
    }
    for (const f of frames) Atomics.add(this.ref, f, 1)
  }

  /** put_page(): drop plain references. EINVAL (nothing dropped) for a frame without one. */
  putPages(frames: readonly number[]): void {
    const need = new Map<number, number>()
    for (const f of frames) need.set(f, (need.get(f) ?? 0) + 1)
    for (const [f, n] of need) {
      if (Atomics.load(this.ref, f) % this.bias < n) throw new EmuError(ErrorCodes.EINVAL, `frame ${f} holds fewer than ${n} plain references`)
    }
    for (const f of frames) if (Atomics.sub(this.ref, f, 1) === 1) this.idle(f)
  }

  /** Called (main thread) whenever a frame's last extra reference, pin or plain, is dropped. */
  onIdle(listener: (frame: number) => void): () => void {
    this.idleListeners.push(listener)
    return () => {
      const i = this.idleListeners.indexOf(listener)
      if (i >= 0) this.idleListeners.splice(i, 1)
    }
  }

  private idle(frame: number): void {
    for (const l of [...this.idleListeners]) l(frame)
  }

  /**
   * pin_user_pages(): one pin per listed frame (a frame listed twice gets two).
   * All or nothing: EFAULT for a hole (-1), an out-of-range or unallocated frame.
   */
  pinUserPages(frames: readonly number[], opts: PinOptions = {}): void {
    const phys = this.phys!
    for (const f of frames) {
      if (!Number.isInteger(f) || f < 0 || f >= phys.totalFrames || !phys.isAllocated(f)) {
        throw new EmuError(ErrorCodes.EFAULT, `cannot pin frame ${f}`)
      }
    }
    const owner = opts.owner ?? 'anon'
    let tally = this.owners.get(owner)
    if (!tally) {
      tally = { frames: new Map() }
      this.owners.set(owner, tally)
    }
    const now = this.clock()
    for (const f of frames) {
      Atomics.add(this.ref, f, this.bias)
      const t = tally.frames.get(f) ?? [0, 0, 0]
      t[0]++
      if (opts.longterm) t[1]++
      if (opts.write) t[2]++
      tally.frames.set(f, t)
      if (opts.write && phys.hasFlag(f, PageFlags.PAGECACHE)) phys.markDirty(f, now)
    }
    Atomics.add(this.counters, PinCounter.FOLL_PIN_ACQUIRED, BigInt(frames.length))
    if (opts.longterm) Atomics.add(this.counters, PinCounter.LONGTERM_ACQUIRED, BigInt(frames.length))
  }

  /**
   * unpin_user_pages_dirty_lock(): drop one pin per listed frame; with makeDirty,
   * page-cache pages are marked dirty (set_page_dirty_lock) if they are clean.
   * EINVAL (nothing dropped) if the owner does not hold those pins.
   */
  unpinUserPagesDirtyLock(frames: readonly number[], makeDirty: boolean, owner: PinOwner = 'anon'): void {
    const tally = this.owners.get(owner)
    const need = new Map<number, number>()
    for (const f of frames) need.set(f, (need.get(f) ?? 0) + 1)
    for (const [f, n] of need) {
      const held = tally?.frames.get(f)?.[0] ?? 0
      if (held < n) throw new EmuError(ErrorCodes.EINVAL, `owner ${String(owner)} holds ${held} pins on frame ${f}, unpinning ${n}`)
    }
    for (const f of frames) this.dropOne(tally!, owner, f, makeDirty)
  }

  /** unpin_user_pages(): no dirtying. */
  unpinUserPages(frames: readonly number[], owner: PinOwner = 'anon'): void {
    this.unpinUserPagesDirtyLock(frames, false, owner)
  }

  private dropOne(tally: OwnerTally, owner: PinOwner, f: number, makeDirty: boolean): void {
    const t = tally.frames.get(f)!
    // Pins of one owner on one frame are interchangeable; short-term ones are
    // counted as dropped first, so longterm_released is exact when all drop.
    const longterm = t[1] === t[0]
    t[0]--
    t[1] = Math.min(t[1], t[0])
    t[2] = Math.min(t[2], t[0])
    if (t[0] === 0) tally.frames.delete(f)
    if (tally.frames.size === 0) this.owners.delete(owner)
    if (makeDirty && this.phys!.hasFlag(f, PageFlags.PAGECACHE)) this.phys!.markDirty(f, this.clock())
    const after = Atomics.sub(this.ref, f, this.bias) - this.bias
    Atomics.add(this.counters, PinCounter.FOLL_PIN_RELEASED, 1n)
    if (longterm) Atomics.add(this.counters, PinCounter.LONGTERM_RELEASED, 1n)
    if (after < this.bias) for (const l of [...this.releaseListeners]) l(f)
    if (after === 0) this.idle(f)
  }

  /**
   * Drop every pin the owner holds (dead client, deregistered MR). Pages pinned
   * for write are dirtied, as ib_umem_release() does for a writable umem.
   * Returns the number of pins dropped.
   */
  releaseOwner(owner: PinOwner): number {
    const tally = this.owners.get(owner)
    if (!tally) return 0
    let n = 0
    for (const [f, t] of [...tally.frames]) {
      const dirty = t[2] > 0
      const count = t[0]
      for (let i = 0; i < count; i++) this.dropOne(tally, owner, f, dirty && i === count - 1)
      n += count
    }
    Atomics.add(this.counters, PinCounter.OWNERS_RELEASED, 1n)
    return n
  }

  /** Pins held by an owner (total, or on one frame). */
  ownerPins(owner: PinOwner, frame?: number): number {
    const tally = this.owners.get(owner)
    if (!tally) return 0
    if (frame !== undefined) return tally.frames.get(frame)?.[0] ?? 0
    let n = 0
    for (const t of tally.frames.values()) n += t[0]
    return n
  }

  ownerList(): PinOwner[] {
    return [...this.owners.keys()]
  }

  /** Called (main thread) whenever a frame's last pin is dropped. Returns an unsubscribe function. */
  onUnpinned(listener: (frame: number) => void): () => void {
    this.releaseListeners.push(listener)
    return () => {
      const i = this.releaseListeners.indexOf(listener)
      if (i >= 0) this.releaseListeners.splice(i, 1)
    }
  }

  stats(): PinStats {
    let pinned = 0
    for (let f = 0; f < this.ref.length; f++) if (Atomics.load(this.ref, f) >= this.bias) pinned++
    return {
      nr_foll_pin_acquired: Number(Atomics.load(this.counters, PinCounter.FOLL_PIN_ACQUIRED)),
      nr_foll_pin_released: Number(Atomics.load(this.counters, PinCounter.FOLL_PIN_RELEASED)),
      longterm_acquired: Number(Atomics.load(this.counters, PinCounter.LONGTERM_ACQUIRED)),
      longterm_released: Number(Atomics.load(this.counters, PinCounter.LONGTERM_RELEASED)),
      owners_released: Number(Atomics.load(this.counters, PinCounter.OWNERS_RELEASED)),
      pinned_frames: pinned,
    }
  }
}
