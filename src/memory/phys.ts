/**
 * The server's physical frame space, shared with the piscina data-path workers.
 *
 * Frame numbers are global: frames 0..D-1 are DAX device blocks (bytes in
 * `deviceSab`, persistent through src/memory/dax.ts), frames D..D+R-1 are RAM
 * pages (anonymous memory and page-cache pages, bytes in `ramSab`).
 *
 * Per-frame state that the data path may read or write lives in
 * SharedArrayBuffers too (the `struct page` analogue): a flags word per frame
 * (Int32Array, updated with Atomics) and a dirty timestamp per frame. The RAM
 * allocator is a stack in a SharedArrayBuffer guarded by a tiny spin lock, so
 * a worker may allocate as well (critical sections are a few instructions).
 */
import { EmuError, ErrorCodes } from '../errors.ts'

/** Frame flag bits (`PhysMem.flags[frame]`). */
export const PageFlags = {
  /** RAM frame handed out by allocRam (device frames never carry it). */
  ALLOCATED: 1 << 0,
  /** Page-cache page of a file (set by fs). */
  PAGECACHE: 1 << 1,
  /** PG_dirty: page-cache contents newer than the device block. */
  DIRTY: 1 << 2,
  /** Anonymous memory (set by whoever allocates anon frames). */
  ANON: 1 << 3,
} as const

/** Everything a worker needs to rebuild a PhysMem over the same memory. Structured-clone safe. */
export interface PhysMemDesc {
  pageSize: number
  deviceFrames: number
  ramFrames: number
  deviceSab: SharedArrayBuffer
  ramSab: SharedArrayBuffer
  /** Int32Array(D+R): PageFlags per frame. */
  flagsSab: SharedArrayBuffer
  /** Float64Array(D+R): time (ms, the fs clock) a page became dirty; 0 when clean. */
  dirtySab: SharedArrayBuffer
  /** Int32Array(2+R): [lock, top, stack...] RAM free stack. */
  allocSab: SharedArrayBuffer
}

export interface PhysMemOptions {
  pageSize: number
  deviceFrames: number
  ramFrames: number
  /** Supply the device bytes (DaxDevice.sab); a fresh zeroed SAB otherwise. */
  deviceSab?: SharedArrayBuffer
}

const A_LOCK = 0
const A_TOP = 1
const A_STACK = 2

export class PhysMem {
  readonly pageSize: number
  readonly deviceFrames: number
  readonly ramFrames: number
  readonly totalFrames: number
  readonly deviceSab: SharedArrayBuffer
  readonly ramSab: SharedArrayBuffer
  /** PageFlags per frame; always access with Atomics. */
  readonly flags: Int32Array
  /** Dirty-since timestamps per frame (0 = clean). */
  readonly dirtySince: Float64Array
  readonly device: Uint8Array
  readonly ram: Uint8Array
  private readonly flagsSab: SharedArrayBuffer
  private readonly dirtySab: SharedArrayBuffer
  private readonly allocSab: SharedArrayBuffer
  private readonly alloc: Int32Array

  constructor(opts: PhysMemOptions, shared?: PhysMemDesc) {
    const { pageSize, deviceFrames, ramFrames } = opts
    if (!Number.isInteger(pageSize) || pageSize <= 0 || (pageSize & (pageSize - 1)) !== 0) {
      throw new EmuError(ErrorCodes.EINVAL, `pageSize must be a power of two, got ${pageSize}`)
    }
    if (!Number.isInteger(deviceFrames) || deviceFrames < 0 || !Number.isInteger(ramFrames) || ramFrames < 0) {
      throw new EmuError(ErrorCodes.EINVAL, 'frame counts must be non-negative integers')
    }
    this.pageSize = pageSize
    this.deviceFrames = deviceFrames
    this.ramFrames = ramFrames
    this.totalFrames = deviceFrames + ramFrames
    if (shared) {
      this.deviceSab = shared.deviceSab
      this.ramSab = shared.ramSab
      this.flagsSab = shared.flagsSab
      this.dirtySab = shared.dirtySab
      this.allocSab = shared.allocSab
    } else {
      this.deviceSab = opts.deviceSab ?? new SharedArrayBuffer(deviceFrames * pageSize)
      if (this.deviceSab.byteLength !== deviceFrames * pageSize) {
        throw new EmuError(ErrorCodes.EINVAL, `deviceSab is ${this.deviceSab.byteLength} bytes, expected ${deviceFrames * pageSize}`)
      }
      this.ramSab = new SharedArrayBuffer(ramFrames * pageSize)
      this.flagsSab = new SharedArrayBuffer(4 * this.totalFrames)
      this.dirtySab = new SharedArrayBuffer(8 * this.totalFrames)
      this.allocSab = new SharedArrayBuffer(4 * (A_STACK + ramFrames))
    }
    this.device = new Uint8Array(this.deviceSab)
    this.ram = new Uint8Array(this.ramSab)
    this.flags = new Int32Array(this.flagsSab)
    this.dirtySince = new Float64Array(this.dirtySab)
    this.alloc = new Int32Array(this.allocSab)
    if (!shared) {
      // Stack holds RAM frames so the lowest frame is popped first.
      for (let i = 0; i < ramFrames; i++) this.alloc[A_STACK + i] = deviceFrames + ramFrames - 1 - i
      this.alloc[A_TOP] = ramFrames
    }
  }

  /** Worker side: views over the same SharedArrayBuffers. */
  static fromShared(desc: PhysMemDesc): PhysMem {
    return new PhysMem(desc, desc)
  }

  /** Serialisable descriptor (post it to a worker; never put the SABs in a transferList). */
  shared(): PhysMemDesc {
    return {
      pageSize: this.pageSize,
      deviceFrames: this.deviceFrames,
      ramFrames: this.ramFrames,
      deviceSab: this.deviceSab,
      ramSab: this.ramSab,
      flagsSab: this.flagsSab,
      dirtySab: this.dirtySab,
      allocSab: this.allocSab,
    }
  }

  isDevice(frame: number): boolean {
    return frame >= 0 && frame < this.deviceFrames
  }

  isRam(frame: number): boolean {
    return frame >= this.deviceFrames && frame < this.totalFrames
  }

  checkFrame(frame: number): void {
    if (!Number.isInteger(frame) || frame < 0 || frame >= this.totalFrames) {
      throw new EmuError(ErrorCodes.EFAULT, `frame ${frame} out of range 0..${this.totalFrames - 1}`)
    }
  }

  /** The page's bytes (a view, not a copy). */
  frameView(frame: number): Uint8Array {
    if (frame >= 0 && frame < this.deviceFrames) {
      return this.device.subarray(frame * this.pageSize, (frame + 1) * this.pageSize)
    }
    this.checkFrame(frame)
    const r = frame - this.deviceFrames
    return this.ram.subarray(r * this.pageSize, (r + 1) * this.pageSize)
  }

  /** Buffer and byte offset of a frame, for hot paths that avoid subarray allocation. */
  frameLocation(frame: number): { bytes: Uint8Array; offset: number } {
    if (frame >= 0 && frame < this.deviceFrames) return { bytes: this.device, offset: frame * this.pageSize }
    this.checkFrame(frame)
    return { bytes: this.ram, offset: (frame - this.deviceFrames) * this.pageSize }
  }

  private lock(): void {
    // Why a spin lock: critical sections are a handful of loads/stores; Atomics.wait
    // is not allowed on the main thread, and workers hold the lock only briefly.
    while (Atomics.compareExchange(this.alloc, A_LOCK, 0, 1) !== 0) { /* spin */ }
  }

  private unlock(): void {
    Atomics.store(this.alloc, A_LOCK, 0)
  }

  /** Allocate a zeroed RAM frame. ENOMEM when none is left. */
  allocRam(extraFlags = 0): number {
    this.lock()
    let frame: number
    try {
      const top = this.alloc[A_TOP]!
      if (top === 0) throw new EmuError(ErrorCodes.ENOMEM, 'out of RAM frames')
      frame = this.alloc[A_STACK + top - 1]!
      this.alloc[A_TOP] = top - 1
    } finally {
      this.unlock()
    }
    this.frameView(frame).fill(0)
    this.dirtySince[frame] = 0
    Atomics.store(this.flags, frame, PageFlags.ALLOCATED | extraFlags)
    return frame
  }

  /** Return a RAM frame to the allocator. EINVAL for a device frame or a double free. */
  freeRam(frame: number): void {
    if (!this.isRam(frame)) throw new EmuError(ErrorCodes.EINVAL, `freeRam: ${frame} is not a RAM frame`)
    const old = Atomics.exchange(this.flags, frame, 0)
    if ((old & PageFlags.ALLOCATED) === 0) {
      throw new EmuError(ErrorCodes.EINVAL, `freeRam: frame ${frame} is not allocated`)
    }
    this.dirtySince[frame] = 0
    this.lock()
    try {
      const top = this.alloc[A_TOP]!
      this.alloc[A_STACK + top] = frame
      this.alloc[A_TOP] = top + 1
    } finally {
      this.unlock()
    }
  }

  freeRamFrames(): number {
    return Atomics.load(this.alloc, A_TOP)
  }

  isAllocated(frame: number): boolean {
    if (this.isDevice(frame)) return true
    return this.isRam(frame) && (Atomics.load(this.flags, frame) & PageFlags.ALLOCATED) !== 0
  }

  hasFlag(frame: number, flag: number): boolean {
    return (Atomics.load(this.flags, frame) & flag) !== 0
  }

  setFlag(frame: number, flag: number): void {
    Atomics.or(this.flags, frame, flag)
  }

  clearFlag(frame: number, flag: number): void {
    Atomics.and(this.flags, frame, ~flag)
  }

  /** set_page_dirty: marks dirty, keeping the older timestamp when already dirty. Returns true if it was clean. */
  markDirty(frame: number, now: number): boolean {
    const old = Atomics.or(this.flags, frame, PageFlags.DIRTY)
    if ((old & PageFlags.DIRTY) === 0) {
      this.dirtySince[frame] = now
      return true
    }
    return false
  }

  isDirty(frame: number): boolean {
    return this.hasFlag(frame, PageFlags.DIRTY)
  }

  /** Clears PG_dirty; returns whether it was set. */
  clearDirty(frame: number): boolean {
    const old = Atomics.and(this.flags, frame, ~PageFlags.DIRTY)
    this.dirtySince[frame] = 0
    return (old & PageFlags.DIRTY) !== 0
  }
}
