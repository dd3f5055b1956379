/**
 * FrameMemory: the bytes of a server MR as a list of physical frames (DAX
 * device blocks, page-cache pages or anonymous RAM pages), like the page list
 * of a pinned ib_umem.
 *
 * Byte `i` of the region is at byte `(offset + i) % pageSize` of frame
 * `frames[(offset + i) / pageSize]`. Copies split at page boundaries; 64-bit
 * atomics use `Atomics` on a BigInt64Array over the frame's SharedArrayBuffer,
 * so they are atomic across worker threads (an 8-byte aligned physical address
 * never straddles a page, since pages are multiples of 8).
 *
 * Every DMA is checked with the oracle BEFORE it touches a frame: a frame that
 * no longer belongs to `expectedIno` (the MR's file, or OWNER_ANON) is counted
 * as corruption (write / atomic) or a leak (read / flush). The access still
 * happens, as it would with a real NIC: that is the corruption being measured.
 *
 * The state is only {frames, offset, length, expectedIno, odp} plus the
 * shared views, so a worker thread rebuilds the same region from `shared()`
 * and a ServerMemoryView.
 *
 * ODP regions (`odp` in the descriptor, src/memory/odp.ts): `frames` is the
 * device page table, filled by faults. Every access first faults its pages in
 * and holds off invalidation (mapAndLock / unlock); the RegionMemory methods do
 * that themselves and throw EFAULT when a page cannot be mapped, the data path
 * calls mapAndLock() itself to get the state value.
 */
import { EmuError, ErrorCodes } from '../errors.ts'
import type { DaxDevice } from './dax.ts'
import { OdpRegion, OdpStatus, type OdpDesc, type OdpStatusValue } from './odp.ts'
import type { DmaKind, Oracle } from './oracle.ts'
import { PageFlags, type PhysMem } from './phys.ts'
import type { RegionMemory } from './region-memory.ts'
import type { StorageFaults } from './storage-faults.ts'

/** What FrameMemory needs: ServerMemory (main thread) or ServerMemoryView (worker) both fit. */
export interface FrameMemoryHost {
  readonly phys: PhysMem
  readonly dax: DaxDevice
  readonly oracle: Oracle
  /** Injected storage faults (main thread only: the responder asks before it hands a FLUSH to a data path). */
  readonly faults?: StorageFaults
}

/** Structured-clone safe description of a region (frames over a SharedArrayBuffer). */
export interface FrameMemoryDesc {
  /** Frame of each page of the region, in order. */
  frames: Int32Array | readonly number[]
  /** Byte offset of the region inside frames[0]. */
  offset: number
  /** Region length in bytes. */
  length: number
  /** Owner every touched frame must still have: an inode number, or OWNER_ANON. */
  expectedIno: number
  /** On-demand paging state; `frames` then starts as -1 (nothing mapped). */
  odp?: OdpDesc
}

export class FrameMemory implements RegionMemory {
  readonly length: number
  readonly offset: number
  readonly expectedIno: number
  /** Frame per page; an Int32Array over a SharedArrayBuffer, so workers see the same list. */
  readonly frames: Int32Array
  private readonly phys: PhysMem
  private readonly dax: DaxDevice
  private readonly oracle: Oracle
  private readonly faults: StorageFaults | undefined
  private readonly pageSize: number
  private readonly deviceFrames: number
  private deviceWords: BigInt64Array | undefined
  private ramWords: BigInt64Array | undefined
  /** ODP state (shared), or undefined for a pinned region. */
  readonly odp: OdpRegion | undefined

  constructor(host: FrameMemoryHost, desc: FrameMemoryDesc) {
    this.phys = host.phys
    this.dax = host.dax
    this.oracle = host.oracle
    this.faults = host.faults
    this.pageSize = host.phys.pageSize
    this.deviceFrames = host.phys.deviceFrames
    const { offset, length, expectedIno } = desc
    if (!Number.isSafeInteger(offset) || offset < 0 || offset >= this.pageSize || !Number.isSafeInteger(length) || length < 0) {
      throw new EmuError(ErrorCodes.EINVAL, `bad frame region offset/length ${offset}/${length}`)
    }
    const need = length === 0 ? 0 : Math.ceil((offset + length) / this.pageSize)
    if (desc.frames.length < need) {
      throw new EmuError(ErrorCodes.EINVAL, `${desc.frames.length} frames cannot hold ${length} bytes at offset ${offset}`)
    }
    if (desc.frames instanceof Int32Array && desc.frames.buffer instanceof SharedArrayBuffer) {
      this.frames = desc.frames
    } else {
      this.frames = new Int32Array(new SharedArrayBuffer(4 * desc.frames.length))
      this.frames.set(desc.frames)
    }
    this.offset = offset
    this.length = length
    this.expectedIno = expectedIno
    if (desc.odp) {
      const odp = (this.odp = new OdpRegion(desc.odp, this.frames))
      // A writable mapping of a page-cache page dirties it when it is mapped
      // (the write fault), so writeback after an invalidation sees the DMA.
      if (odp.writable) odp.onMap = (f) => { if (this.phys.hasFlag(f, PageFlags.PAGECACHE)) this.phys.markDirty(f, Date.now()) }
    } else {
      for (let i = 0; i < need; i++) host.phys.checkFrame(this.frames[i]!)
    }
  }

  /**
   * Every page of a pinned region is a DAX device block (rxe is_pmem_page):
   * page-cache and anonymous pages are RAM. An ODP region has no pages yet.
   */
  get persistent(): boolean {
    if (this.odp) return false
    const need = this.length === 0 ? 0 : Math.ceil((this.offset + this.length) / this.pageSize)
    for (let i = 0; i < need; i++) {
      const f = this.frames[i]!
      if (f < 0 || f >= this.deviceFrames) return false
    }
    return true
  }

  /** Worker side: the same region over a ServerMemoryView. */
  static fromShared(host: FrameMemoryHost, desc: FrameMemoryDesc): FrameMemory {
    return new FrameMemory(host, desc)
  }

  shared(): FrameMemoryDesc {
    return { frames: this.frames, offset: this.offset, length: this.length, expectedIno: this.expectedIno, odp: this.odp?.shared() }
  }

  /** Region pages [first, last] holding bytes [off, off+len) (len > 0). */
  pageSpan(off: number, len: number): [number, number] {
    return [Math.floor((this.offset + off) / this.pageSize), Math.floor((this.offset + off + Math.max(1, len) - 1) / this.pageSize)]
  }

  /**
   * Fault [off, off+len) in and hold off invalidation until unlock()
   * (rxe_odp_map_range_and_lock). Always OK for a pinned region. Only an OK
   * holds anything, and must be paired with one unlock().
   */
  mapAndLock(off: number, len: number): OdpStatusValue {
    if (!this.odp || len <= 0) return OdpStatus.OK
    const [first, last] = this.pageSpan(off, len)
    return this.odp.enter(first, last)
  }

  unlock(off: number, len: number): void {
    if (this.odp && len > 0) this.odp.exit()
  }

  /** mapAndLock() for the RegionMemory methods: EFAULT when a page cannot be mapped. */
  private enterOrThrow(off: number, len: number): void {
    const st = this.mapAndLock(off, len)
    if (st !== OdpStatus.OK) {
      throw new EmuError(ErrorCodes.EFAULT, `ODP fault at region offset ${off}+${len} failed (${st === OdpStatus.NEED_MAIN ? 'needs the main thread' : 'no page there'})`)
    }
  }

  /** Frames holding [off, off+len) of the region (for pins, flush, reports). */
  framesOf(off = 0, len = this.length): number[] {
    if (len <= 0) return []
    const first = Math.floor((this.offset + off) / this.pageSize)
    const last = Math.floor((this.offset + off + len - 1) / this.pageSize)
    return Array.from(this.frames.subarray(first, last + 1))
  }

  /** The arena holding `frame` and the frame's byte base in it. */
  private arena(frame: number): Uint8Array {
    return frame < this.deviceFrames ? this.phys.device : this.phys.ram
  }

  private base(frame: number): number {
    if (frame < 0) throw new EmuError(ErrorCodes.EFAULT, `region page has no frame (${frame})`)
    return (frame < this.deviceFrames ? frame : frame - this.deviceFrames) * this.pageSize
  }

  /**
   * Walk [off, off+len) page by page. `fn(frame, inPage, n, pos)`: `inPage` is
   * the offset inside the frame, `pos` the offset relative to `off`.
   */
  private each(off: number, len: number, fn: (frame: number, inPage: number, n: number, pos: number) => void): void {
    const ps = this.pageSize
    let abs = this.offset + off
    let pos = 0
    while (pos < len) {
      const pi = Math.floor(abs / ps)
      const o = abs - pi * ps
      const n = Math.min(ps - o, len - pos)
      fn(this.frames[pi]!, o, n, pos)
      abs += n
      pos += n
    }
  }

  private check(frame: number, n: number, kind: DmaKind): void {
    this.oracle.checkDma(frame, this.expectedIno, n, kind)
  }

  copyOut(off: number, dst: Uint8Array, dstOff: number, len: number): void {
    if (!this.odp) return this.rawCopyOut(off, dst, dstOff, len)
    this.enterOrThrow(off, len)
    try {
      this.rawCopyOut(off, dst, dstOff, len)
    } finally {
      this.unlock(off, len)
    }
  }

  private rawCopyOut(off: number, dst: Uint8Array, dstOff: number, len: number): void {
    this.each(off, len, (f, o, n, pos) => {
      this.check(f, n, 'read')
      const b = this.base(f) + o
      dst.set(this.arena(f).subarray(b, b + n), dstOff + pos)
    })
  }

  copyIn(off: number, src: Uint8Array): void {
    if (!this.odp) return this.rawCopyIn(off, src)
    this.enterOrThrow(off, src.length)
    try {
      this.rawCopyIn(off, src)
    } finally {
      this.unlock(off, src.length)
    }
  }

  private rawCopyIn(off: number, src: Uint8Array): void {
    this.each(off, src.length, (f, o, n, pos) => {
      this.check(f, n, 'write')
      this.arena(f).set(src.subarray(pos, pos + n), this.base(f) + o)
    })
  }

  /** A view when [off, off+len) sits in one page or in consecutive frames of one arena. */
  view(off: number, len: number): Uint8Array | undefined {
    if (!this.odp) return this.rawView(off, len)
    this.enterOrThrow(off, len)
    try {
      return this.rawView(off, len)
    } finally {
      this.unlock(off, len)
    }
  }

  private rawView(off: number, len: number): Uint8Array | undefined {
    if (len === 0) return new Uint8Array(0)
    const ps = this.pageSize
    const first = Math.floor((this.offset + off) / ps)
    const last = Math.floor((this.offset + off + len - 1) / ps)
    const f0 = this.frames[first]!
    if (f0 < 0) return undefined
    for (let i = first + 1; i <= last; i++) {
      const f = this.frames[i]!
      if (f !== f0 + (i - first) || (f < this.deviceFrames) !== (f0 < this.deviceFrames)) return undefined
    }
    this.each(off, len, (f, _o, n) => this.check(f, n, 'read'))
    const b = this.base(f0) + ((this.offset + off) - first * ps)
    return this.arena(f0).subarray(b, b + len)
  }

  /** Word index for an 8-byte aligned physical address, or -1 (then use the byte-wise fallback). */
  private word(off: number, kind: DmaKind): [BigInt64Array, number] | undefined {
    const abs = this.offset + off
    const pi = Math.floor(abs / this.pageSize)
    const f = this.frames[pi]!
    const phys = this.base(f) + (abs - pi * this.pageSize)
    if (phys % 8 !== 0) return undefined
    this.check(f, 8, kind)
    let w: BigInt64Array
    if (f < this.deviceFrames) w = this.deviceWords ??= new BigInt64Array(this.phys.deviceSab)
    else w = this.ramWords ??= new BigInt64Array(this.phys.ramSab)
    return [w, phys / 8]
  }

  /** Non-atomic fallback for a region whose physical layout leaves the word unaligned (may straddle a page). */
  private readWord(off: number): bigint {
    const tmp = new Uint8Array(8)
    this.each(off, 8, (f, o, n, pos) => {
      const b = this.base(f) + o
      tmp.set(this.arena(f).subarray(b, b + n), pos)
    })
    return new DataView(tmp.buffer).getBigUint64(0, true)
  }

  private writeWord(off: number, value: bigint, kind: DmaKind): void {
    const tmp = new Uint8Array(8)
    new DataView(tmp.buffer).setBigUint64(0, BigInt.asUintN(64, value), true)
    this.each(off, 8, (f, o, n, pos) => {
      this.check(f, n, kind)
      this.arena(f).set(tmp.subarray(pos, pos + n), this.base(f) + o)
    })
  }

  compareSwap(off: number, compare: bigint, swap: bigint): bigint {
    if (!this.odp) return this.rawCompareSwap(off, compare, swap)
    this.enterOrThrow(off, 8)
    try {
      return this.rawCompareSwap(off, compare, swap)
    } finally {
      this.unlock(off, 8)
    }
  }

  private rawCompareSwap(off: number, compare: bigint, swap: bigint): bigint {
    const w = this.word(off, 'atomic')
    if (w) return BigInt.asUintN(64, Atomics.compareExchange(w[0], w[1], BigInt.asIntN(64, compare), BigInt.asIntN(64, swap)))
    const old = this.readWord(off)
    if (old === BigInt.asUintN(64, compare)) this.writeWord(off, swap, 'atomic')
    else this.each(off, 8, (f, _o, n) => this.check(f, n, 'atomic'))
    return old
  }

  fetchAdd(off: number, add: bigint): bigint {
    if (!this.odp) return this.rawFetchAdd(off, add)
    this.enterOrThrow(off, 8)
    try {
      return this.rawFetchAdd(off, add)
    } finally {
      this.unlock(off, 8)
    }
  }

  private rawFetchAdd(off: number, add: bigint): bigint {
    const w = this.word(off, 'atomic')
    if (w) return BigInt.asUintN(64, Atomics.add(w[0], w[1], BigInt.asIntN(64, add)))
    const old = this.readWord(off)
    this.writeWord(off, old + add, 'atomic')
    return old
  }

  atomicWrite(off: number, value: bigint): void {
    if (!this.odp) return this.rawAtomicWrite(off, value)
    this.enterOrThrow(off, 8)
    try {
      this.rawAtomicWrite(off, value)
    } finally {
      this.unlock(off, 8)
    }
  }

  private rawAtomicWrite(off: number, value: bigint): void {
    const w = this.word(off, 'atomic')
    if (w) {
      Atomics.store(w[0], w[1], BigInt.asIntN(64, value))
      return
    }
    this.writeWord(off, value, 'atomic')
  }

  /** An injected FLUSH fault (fs.faults flush: 'EIO') is in force: this FLUSH fails (counted). */
  flushFails(): boolean {
    return this.faults?.flushFails() ?? false
  }

  /**
   * RDMA FLUSH: write the covered bytes of device frames through to the DAX
   * image and fdatasync it. RAM frames (page cache, anonymous memory) have no
   * persistence domain behind them: nothing to do, as on real hardware.
   */
  flush(off: number, len: number): void {
    if (!this.odp) return this.rawFlush(off, len)
    this.enterOrThrow(off, len)
    try {
      this.rawFlush(off, len)
    } finally {
      this.unlock(off, len)
    }
  }

  private rawFlush(off: number, len: number): void {
    // Runs of consecutive device bytes become one write to the image.
    let runStart = -1
    let runEnd = -1
    let persisted = false
    const emit = (): void => {
      if (runStart < 0) return
      this.dax.persistBytes(runStart, runEnd - runStart)
      persisted = true
      runStart = runEnd = -1
    }
    this.each(off, len, (f, o, n) => {
      this.check(f, n, 'flush')
      if (f < 0 || f >= this.deviceFrames) return emit()
      const at = f * this.pageSize + o
      if (at !== runEnd) {
        emit()
        runStart = at
      }
      runEnd = at + n
    })
    emit()
    if (persisted) this.dax.sync()
  }
}
