/**
 * A small filesystem on the DAX device: the FileSystem facade, which composes
 * the parts and is the API the server uses.
 *
 * - fs-namespace.ts: inodes (per-page block maps, never-reused numbers) and names.
 * - fs-block-allocator.ts: the LIFO block allocator (freed blocks reused at once).
 * - fs-file-data.ts: read / write / mapRange on DAX and page-cached files.
 * - fs-page-cache.ts: page-cache frames, drop_caches, orphaned pinned pages.
 * - fs-writeback.ts: expiry writeback, fsync's writeback, page_mkclean,
 *   'upstream' (Linux: pinned pages cleaned too) / 'keep-dirty' / 'bounce'
 *   (seed 001's proposals) for pinned pages.
 * - fs-journal.ts: metadata committed to `fs-meta.json` after the data blocks.
 * - fs-layout-change.ts: truncate / punch hole / unlink through the layout guard.
 * - fs-hooks.ts: the layout guard, MMU notifier and owner event contracts.
 *
 * The MMU notifier (setMmuNotifier) hears about every page whose frame a
 * mapping must stop using, synchronously, BEFORE the frame is freed or
 * cleaned: truncate / punch / unlink (after the layout guard agreed),
 * drop_caches, and page_mkclean at writeback. ODP MRs invalidate there.
 */
import { EmuError, ErrorCodes } from '../errors.ts'
import { Params } from '../params.ts'
import type { DaxDevice } from './dax.ts'
import { StorageFaults } from './storage-faults.ts'
import { BlockAllocator } from './fs-block-allocator.ts'
import { newFsCounters, type FsContext, type FsCounters } from './fs-context.ts'
import { FileData } from './fs-file-data.ts'
import type { LayoutGuard, MmuNotifier, OwnerEvent } from './fs-hooks.ts'
import { FsJournal } from './fs-journal.ts'
import { LayoutChanges } from './fs-layout-change.ts'
import { checkRange, extentsOf, Namespace, type Extent, type Inode } from './fs-namespace.ts'
import { PageCache } from './fs-page-cache.ts'
import { emptyFsyncResult, Writeback, WRITEBACK_MODES, type FsyncResult, type WritebackMode } from './fs-writeback.ts'
import type { PhysMem } from './phys.ts'
import type { PinTable } from './pins.ts'

export type { FsCounters } from './fs-context.ts'
export type { LayoutDecision, LayoutGuard, LayoutInfo, LayoutOp, MmuEvent, MmuNotifier, OwnerEvent } from './fs-hooks.ts'
export { FS_META } from './fs-journal.ts'
export type { Extent } from './fs-namespace.ts'
export { WRITEBACK_MODES, type FsyncResult, type WritebackMode } from './fs-writeback.ts'

/** Linux fallocate mode bits. */
export const FALLOC_FL_KEEP_SIZE = 0x01
export const FALLOC_FL_PUNCH_HOLE = 0x02

export interface FsOptions {
  dataDir: string
  dax: DaxDevice
  phys: PhysMem
  pins?: PinTable
  dirtyExpireMs?: number
  writebackMode?: WritebackMode
  /** Start a periodic (unref'd) writeback timer with this interval; 0 = none (default). */
  writebackIntervalMs?: number
  clock?: () => number
  /** Block/frame ownership changes (wire to Oracle.setOwner). Also called for every block on load. */
  onOwnerChange?: (ev: OwnerEvent) => void
  /** Injected storage faults (fsync EIO, ENOSPC); default none. */
  faults?: StorageFaults
}

/** A truncate or punch that may wait (DAX pages busy, a lease break). */
export interface LayoutChangeOptions {
  /** Interrupts the wait: the call fails with EINTR and nothing changes. */
  signal?: AbortSignal
}

export interface CreateOptions {
  dax?: boolean
}

export interface Stat {
  ino: number
  name: string | null
  size: number
  dax: boolean
  blocks: number
  retained: number
  cachedPages: number
  dirtyPages: number
  nlink: number
  opens: number
}

export class FileSystem {
  readonly pageSize: number
  readonly dataDir: string
  readonly dax: DaxDevice
  readonly phys: PhysMem
  readonly pins: PinTable | null
  readonly dirtyExpireMs: number
  readonly writebackMode: WritebackMode
  private readonly clock: () => number
  private readonly counters: FsCounters = newFsCounters()
  /** Injected storage faults (fs.faults): fsync EIO, ENOSPC. */
  readonly faults: StorageFaults
  private readonly ns = new Namespace()
  private readonly blocks: BlockAllocator
  private readonly cache: PageCache
  private readonly data: FileData
  private readonly layout: LayoutChanges
  private readonly flusher: Writeback
  private readonly journal: FsJournal
  private notifier: MmuNotifier | null = null
  private readonly unsubscribe: (() => void) | null

  constructor(opts: FsOptions) {
    this.dataDir = opts.dataDir
    this.faults = opts.faults ?? new StorageFaults()
    this.dax = opts.dax
    this.phys = opts.phys
    this.pins = opts.pins ?? null
    this.pageSize = opts.phys.pageSize
    this.dirtyExpireMs = opts.dirtyExpireMs ?? Params.defaultDirtyExpireMs
    this.writebackMode = opts.writebackMode ?? 'upstream'
    if (!(WRITEBACK_MODES as readonly string[]).includes(this.writebackMode)) {
      throw new EmuError(ErrorCodes.EINVAL, `writebackMode must be one of ${WRITEBACK_MODES.join(', ')}, got ${String(this.writebackMode)}`)
    }
    this.clock = opts.clock ?? Date.now
    const ownerHook = opts.onOwnerChange ?? (() => {})
    if (opts.dax.sab !== opts.phys.deviceSab) {
      throw new EmuError(ErrorCodes.EINVAL, 'phys must be built over the DAX device SAB')
    }
    const ctx: FsContext = {
      pageSize: this.pageSize,
      dax: this.dax,
      phys: this.phys,
      pins: this.pins,
      clock: this.clock,
      counters: this.counters,
      faults: this.faults,
      emit: (frame, owner, name, cause) => ownerHook({ frame, owner, name, cause }),
      notify: (ino, start, end, event) => this.notifier?.(ino, start, end, event),
    }
    this.blocks = new BlockAllocator(ctx)
    this.cache = new PageCache(ctx, this.ns, this.blocks)
    this.data = new FileData(ctx, this.blocks, this.cache)
    this.layout = new LayoutChanges(ctx, this.ns, this.cache, this.data)
    this.flusher = new Writeback(ctx, this.ns, this.writebackMode, this.dirtyExpireMs)
    this.journal = new FsJournal(this.dataDir, ctx, this.ns, this.blocks)
    this.journal.load()
    this.unsubscribe = this.pins ? this.pins.onUnpinned((f) => this.onUnpinned(f)) : null
    if (opts.writebackIntervalMs) this.startWriteback(opts.writebackIntervalMs)
  }

  private onUnpinned(frame: number): void {
    this.layout.releaseRetained(frame)
    this.cache.releaseOrphan(frame)
  }

  // ---------------------------------------------------------------- namespace

  create(name: string, opts: CreateOptions = {}): number {
    return this.ns.create(name, opts.dax ?? false).ino
  }

  lookup(name: string): number {
    return this.ns.lookup(name)
  }

  /** Open by name: holds a reference, so an unlinked file lives until the last close. */
  open(name: string): number {
    const ino = this.lookup(name)
    this.ns.get(ino).opens++
    return ino
  }

  async close(ino: number): Promise<void> {
    const inode = this.ns.get(ino)
    if (inode.opens === 0) throw new EmuError(ErrorCodes.EINVAL, `inode ${ino} is not open`)
    inode.opens--
    if (inode.opens === 0 && inode.nlink === 0) await this.destroy(inode)
  }

  /** Remove the name now; blocks are freed (through the layout guard) once no open reference remains. */
  async unlink(name: string): Promise<void> {
    const ino = this.lookup(name)
    const inode = this.ns.get(ino)
    this.ns.unname(name)
    inode.nlink = 0
    if (inode.opens === 0) await this.destroy(inode)
  }

  private async destroy(inode: Inode): Promise<void> {
    await this.layout.releaseAll(inode)
    this.ns.forget(inode.ino)
  }

  list(): string[] {
    return this.ns.list()
  }

  stat(ino: number): Stat {
    const i = this.ns.get(ino)
    const { cached, dirty } = this.cache.countOf(i)
    return { ino, name: i.name, size: i.size, dax: i.dax, blocks: i.pages.size, retained: i.retained.length, cachedPages: cached, dirtyPages: dirty, nlink: i.nlink, opens: i.opens }
  }

  /** The block map as runs of consecutive pages on consecutive blocks. */
  extents(ino: number): Extent[] {
    return extentsOf(this.ns.get(ino))
  }

  /** Device block backing page `pageIndex`, or -1 for a hole. */
  blockOf(ino: number, pageIndex: number): number {
    return this.ns.get(ino).pages.get(pageIndex)?.block ?? -1
  }

  /** Page-cache frame of a page, or -1 when not cached. */
  cacheFrameOf(ino: number, pageIndex: number): number {
    return this.ns.get(ino).pages.get(pageIndex)?.cache ?? -1
  }

  /** Blocks owned but outside the visible file (kept by a 'keep' layout decision). */
  retainedBlocks(ino: number): number[] {
    return this.ns.get(ino).retained.map((p) => p.block)
  }

  freeBlocks(): number {
    return this.blocks.count()
  }

  /** The block the allocator would hand out next (LIFO top), or -1. */
  peekFreeBlock(): number {
    return this.blocks.peek()
  }

  // ---------------------------------------------------------------- data

  read(ino: number, off: number, len: number): Uint8Array {
    return this.data.read(this.ns.get(ino), off, len)
  }

  /** Write bytes at off, allocating blocks for holes and extending the size. Returns bytes written. */
  write(ino: number, off: number, data: Uint8Array): number {
    return this.data.write(this.ns.get(ino), off, data)
  }

  /**
   * Frames backing [off, off+len): device blocks for DAX files, page-cache
   * frames for page-cached files (brought into the cache). Holes are -1 unless
   * `allocate`, which allocates them. EFAULT past EOF (as GUP past EOF).
   */
  mapRange(ino: number, off: number, len: number, opts: { allocate?: boolean } = {}): number[] {
    return this.data.mapRange(this.ns.get(ino), off, len, opts)
  }

  // ---------------------------------------------------------------- layout changes

  /** Install the MMU notifier (ODP invalidation). Called synchronously, before frames are freed or cleaned. */
  setMmuNotifier(fn: MmuNotifier | null): void {
    this.notifier = fn
  }

  /** Install the layout guard (policy hook). Default: always 'proceed'. */
  setLayoutGuard(guard: LayoutGuard | null): void {
    this.layout.setGuard(guard)
  }

  /**
   * truncate(2). Growing only sets the size (sparse). Shrinking frees every page
   * at or beyond the new EOF (after the layout guard) and zeroes the tail of the
   * last partial page. When the guard answers synchronously all effects are
   * applied before this returns its promise. A DAX truncate over busy pages
   * unmaps the range, then waits; `opts.signal` interrupts the wait (EINTR).
   */
  truncate(ino: number, size: number, opts: LayoutChangeOptions = {}): Promise<void> {
    const inode = this.ns.get(ino)
    checkRange(size, 0)
    return this.layout.truncate(inode, size, opts.signal)
  }

  /**
   * fallocate(2). mode 0: allocate and extend the size; KEEP_SIZE: allocate only;
   * PUNCH_HOLE|KEEP_SIZE: zero partial pages, free whole pages (layout guard).
   * Other modes: EOPNOTSUPP.
   */
  fallocate(ino: number, mode: number, off: number, len: number, opts: LayoutChangeOptions = {}): Promise<void> {
    const inode = this.ns.get(ino)
    checkRange(off, len)
    if (len <= 0) return Promise.reject(new EmuError(ErrorCodes.EINVAL, 'fallocate length must be positive'))
    if (mode === (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE)) return this.layout.punchHole(inode, off, len, opts.signal)
    if (mode !== 0 && mode !== FALLOC_FL_KEEP_SIZE) {
      return Promise.reject(new EmuError(ErrorCodes.EOPNOTSUPP, `fallocate mode ${mode} not supported`))
    }
    try {
      this.data.allocate(inode, off, len)
    } catch (err) {
      return Promise.reject(err)
    }
    if (mode === 0 && off + len > inode.size) inode.size = off + len
    return Promise.resolve()
  }

  // ---------------------------------------------------------------- writeback

  /**
   * page_mkclean(): clear PG_dirty (the write-protect part has no analogue: DMA
   * never faults). Returns whether it was dirty. Cleaning a pinned page is the
   * hazard of seed 001; it is counted.
   */
  pageMkclean(frame: number): boolean {
    return this.flusher.pageMkclean(frame)
  }

  /** Periodic writeback: pages dirty for at least dirtyExpireMs at `now`. */
  writeback(now = this.clock()): FsyncResult {
    return this.flusher.writeback(now)
  }

  startWriteback(intervalMs: number = Params.defaultWritebackIntervalMs): void {
    this.flusher.start(intervalMs)
  }

  stopWriteback(): void {
    this.flusher.stop()
  }

  /**
   * fsync(2): write back every dirty page of the file (DAX: persist its blocks),
   * then commit the metadata. With 'upstream' a pinned page is written and
   * cleaned like any other. With 'keep-dirty', pinned dirty pages are not
   * written (skippedPinned > 0: "fsync is broken", counted as fsyncIncomplete).
   */
  fsync(ino: number): FsyncResult {
    const inode = this.ns.get(ino)
    // EIO (storage fault): nothing written back, the dirty pages stay dirty.
    this.faults.checkFsync(inode.name ?? `inode ${ino}`)
    const out = emptyFsyncResult()
    this.flusher.syncInode(inode, out)
    this.journal.commit()
    this.counters.fsyncCalls++
    if (out.skippedPinned > 0) this.counters.fsyncIncomplete++
    return out
  }

  /** syncfs: every file, then one commit. */
  syncAll(): FsyncResult {
    this.faults.checkFsync('(syncfs)')
    const out = emptyFsyncResult()
    for (const inode of this.ns.all()) this.flusher.syncInode(inode, out)
    this.journal.commit()
    return out
  }

  /** Drop clean, unpinned page-cache pages (echo 1 > drop_caches). Returns pages dropped. */
  dropCaches(): number {
    return this.cache.dropCaches()
  }

  dirtyPages(): number {
    return this.cache.dirtyPages()
  }

  stats(): FsCounters & { freeBlocks: number; dirtyPages: number; retained: number; orphans: number; files: number } {
    return { ...this.counters, freeBlocks: this.blocks.count(), dirtyPages: this.dirtyPages(), retained: this.layout.retainedCount(), orphans: this.cache.orphanCount(), files: this.ns.files() }
  }

  /** Stop the timer and the pin listener. Persists nothing (call syncAll first for a clean shutdown). */
  shutdown(): void {
    this.stopWriteback()
    this.unsubscribe?.()
  }
}
