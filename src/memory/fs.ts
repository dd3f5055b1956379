/**
 * A small filesystem on the DAX device.
 *
 * - Inodes map page index -> device block (a per-page block map; extents() shows
 *   it as runs). Inode numbers are never reused, so an MR's expected inode is
 *   never confused with a later file.
 * - The block allocator is a LIFO stack: the most recently freed block is the
 *   next one handed out, so "freed under a pin, reused by another file" is
 *   reproducible. New blocks are zeroed.
 * - DAX files: read/write go straight to device blocks; write() persists the
 *   written bytes at once (DAX write is copy + flush). Page-cached files: copies
 *   in RAM frames, PG_dirty + dirty timestamp in PhysMem, writeback(now) of
 *   pages dirty for longer than dirtyExpireMs, fsync writes back every dirty page.
 * - Writeback of a PINNED page-cache page: 'keep-dirty' never writes or cleans
 *   it; 'bounce' writes a snapshot (bounce page) and leaves it dirty, because
 *   DMA into it may continue.
 * - Metadata (names, sizes, block maps, allocator stack, next inode number) is
 *   committed to `fs-meta.json` on fsync, after the data blocks (data=ordered).
 *   A commit covers every file, like a journal commit. After kill -9 the last
 *   commit is what comes back.
 * - truncate / punch hole / unlink ask the layout guard before freeing blocks.
 * - The MMU notifier (setMmuNotifier) hears about every page whose frame a
 *   mapping must stop using, synchronously, BEFORE the frame is freed or
 *   cleaned: truncate / punch / unlink (after the layout guard agreed),
 *   drop_caches, and page_mkclean at writeback. ODP MRs invalidate there.
 */
import * as nodefs from 'node:fs'
import * as path from 'node:path'
import { EmuError, ErrorCodes } from '../errors.ts'
import { Params } from '../params.ts'
import type { DaxDevice } from './dax.ts'
import type { LayoutDecision, LayoutGuard, LayoutInfo, LayoutOp, MmuEvent, MmuNotifier, OwnerEvent } from './fs-hooks.ts'
import { PageFlags, type PhysMem } from './phys.ts'
import type { PinTable } from './pins.ts'
import { OWNER_FREE, OWNER_ORPHAN } from './oracle.ts'

export type { LayoutDecision, LayoutGuard, LayoutInfo, LayoutOp, MmuEvent, MmuNotifier, OwnerEvent } from './fs-hooks.ts'

export const FS_META = 'fs-meta.json'
/** Linux fallocate mode bits. */
export const FALLOC_FL_KEEP_SIZE = 0x01
export const FALLOC_FL_PUNCH_HOLE = 0x02

export type WritebackMode = 'keep-dirty' | 'bounce'

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

export interface Extent {
  page: number
  block: number
  len: number
}

export interface FsyncResult {
  written: number
  bounced: number
  skippedPinned: number
}

export interface FsCounters {
  blocksAllocated: number
  blocksFreed: number
  writebackPages: number
  bouncePages: number
  bounceBytes: number
  keptDirtyPinned: number
  mkcleanPinned: number
  fsyncCalls: number
  fsyncIncomplete: number
  metaCommits: number
  retainedReleased: number
  orphansReleased: number
}

interface Page {
  block: number
  /** Page-cache RAM frame, -1 when not cached (always -1 for DAX files). */
  cache: number
}

interface Inode {
  ino: number
  name: string | null
  size: number
  dax: boolean
  pages: Map<number, Page>
  nlink: number
  opens: number
  retained: Page[]
  /** Serialises truncate/punch/unlink on one inode. */
  layoutChain: Promise<void>
  layoutPending: number
}

interface MetaFile {
  version: 1
  pageSize: number
  deviceFrames: number
  nextIno: number
  free: number[]
  inodes: Array<{ ino: number; name: string; size: number; dax: boolean; extents: Array<[number, number, number]> }>
}

const isPromise = <T>(v: unknown): v is Promise<T> => typeof (v as { then?: unknown })?.then === 'function'

export class FileSystem {
  readonly pageSize: number
  readonly dataDir: string
  readonly dax: DaxDevice
  readonly phys: PhysMem
  readonly pins: PinTable | null
  readonly dirtyExpireMs: number
  readonly writebackMode: WritebackMode
  private readonly clock: () => number
  private readonly ownerHook: (ev: OwnerEvent) => void
  private readonly inodes = new Map<number, Inode>()
  private readonly names = new Map<string, number>()
  private freeStack: number[] = []
  private nextIno = 1
  private readonly unpersistedBlocks = new Set<number>()
  private readonly retainedByFrame = new Map<number, { inode: Inode; page: Page }>()
  private readonly orphans = new Set<number>()
  private guard: LayoutGuard = () => 'proceed'
  private notifier: MmuNotifier | null = null
  private timer: NodeJS.Timeout | null = null
  private readonly unsubscribe: (() => void) | null
  private readonly counters: FsCounters = {
    blocksAllocated: 0, blocksFreed: 0, writebackPages: 0, bouncePages: 0, bounceBytes: 0,
    keptDirtyPinned: 0, mkcleanPinned: 0, fsyncCalls: 0, fsyncIncomplete: 0, metaCommits: 0,
    retainedReleased: 0, orphansReleased: 0,
  }

  constructor(opts: FsOptions) {
    this.dataDir = opts.dataDir
    this.dax = opts.dax
    this.phys = opts.phys
    this.pins = opts.pins ?? null
    this.pageSize = opts.phys.pageSize
    this.dirtyExpireMs = opts.dirtyExpireMs ?? Params.defaultDirtyExpireMs
    this.writebackMode = opts.writebackMode ?? 'keep-dirty'
    if (this.writebackMode !== 'keep-dirty' && this.writebackMode !== 'bounce') {
      throw new EmuError(ErrorCodes.EINVAL, `writebackMode must be 'keep-dirty' or 'bounce', got ${String(this.writebackMode)}`)
    }
    this.clock = opts.clock ?? Date.now
    this.ownerHook = opts.onOwnerChange ?? (() => {})
    if (opts.dax.sab !== opts.phys.deviceSab) {
      throw new EmuError(ErrorCodes.EINVAL, 'phys must be built over the DAX device SAB')
    }
    this.load()
    this.unsubscribe = this.pins ? this.pins.onUnpinned((f) => this.onUnpinned(f)) : null
    if (opts.writebackIntervalMs) this.startWriteback(opts.writebackIntervalMs)
  }

  // ---------------------------------------------------------------- metadata

  private metaPath(): string {
    return path.join(this.dataDir, FS_META)
  }

  private load(): void {
    const D = this.phys.deviceFrames
    let meta: MetaFile | null = null
    try {
      meta = JSON.parse(nodefs.readFileSync(this.metaPath(), 'utf8')) as MetaFile
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    }
    if (!meta) {
      for (let b = D - 1; b >= 0; b--) this.freeStack.push(b)
      return
    }
    if (meta.pageSize !== this.pageSize || meta.deviceFrames !== D) {
      throw new EmuError(ErrorCodes.EINVAL, `${FS_META} was made for pageSize ${meta.pageSize} x ${meta.deviceFrames} blocks`)
    }
    const used = new Uint8Array(D)
    this.nextIno = meta.nextIno
    for (const m of meta.inodes) {
      const inode = this.newInode(m.ino, m.name, m.dax)
      inode.size = m.size
      for (const [page, block, len] of m.extents) {
        for (let i = 0; i < len; i++) {
          inode.pages.set(page + i, { block: block + i, cache: -1 })
          used[block + i] = 1
          this.ownerHook({ frame: block + i, owner: inode.ino, name: inode.name, cause: 'load' })
        }
      }
      this.inodes.set(inode.ino, inode)
      this.names.set(m.name, inode.ino)
    }
    // Keep the committed LIFO order; blocks neither used nor listed (freed by an
    // inode that was never committed) go to the bottom of the stack.
    const listed = new Set<number>()
    const inFree = new Set(meta.free)
    const stack: number[] = []
    for (let b = D - 1; b >= 0; b--) if (!used[b] && !inFree.has(b)) stack.push(b)
    for (const b of meta.free) if (!used[b] && !listed.has(b)) { listed.add(b); stack.push(b) }
    this.freeStack = stack
  }

  private commit(): void {
    this.dax.persistRange(this.unpersistedBlocks)
    this.unpersistedBlocks.clear()
    const meta: MetaFile = {
      version: 1,
      pageSize: this.pageSize,
      deviceFrames: this.phys.deviceFrames,
      nextIno: this.nextIno,
      free: this.freeStack.slice(),
      inodes: [],
    }
    for (const inode of this.inodes.values()) {
      if (inode.nlink === 0 || inode.name === null) continue
      meta.inodes.push({ ino: inode.ino, name: inode.name, size: inode.size, dax: inode.dax, extents: this.extentsOf(inode).map((e) => [e.page, e.block, e.len]) })
    }
    const tmp = this.metaPath() + '.tmp'
    const fd = nodefs.openSync(tmp, 'w', 0o644)
    try {
      nodefs.writeSync(fd, JSON.stringify(meta))
      nodefs.fsyncSync(fd)
    } finally {
      nodefs.closeSync(fd)
    }
    this.dax.sync() // data blocks durable before the metadata that points at them
    nodefs.renameSync(tmp, this.metaPath())
    try {
      const dfd = nodefs.openSync(this.dataDir, 'r')
      try { nodefs.fsyncSync(dfd) } finally { nodefs.closeSync(dfd) }
    } catch { /* directory fsync unsupported: best effort */ }
    this.counters.metaCommits++
  }

  // ---------------------------------------------------------------- blocks

  private emit(frame: number, owner: number, name: string | null, cause: string): void {
    this.ownerHook({ frame, owner, name, cause })
  }

  private allocBlock(inode: Inode, cause: string): number {
    const b = this.freeStack.pop()
    if (b === undefined) throw new EmuError(ErrorCodes.ENOSPC, 'no free blocks on the DAX device')
    this.dax.bytes.fill(0, b * this.pageSize, (b + 1) * this.pageSize)
    this.unpersistedBlocks.add(b)
    this.counters.blocksAllocated++
    this.emit(b, inode.ino, inode.name, cause)
    return b
  }

  private freeBlock(b: number, cause: string): void {
    this.freeStack.push(b)
    this.unpersistedBlocks.delete(b)
    this.counters.blocksFreed++
    this.emit(b, OWNER_FREE, null, cause)
  }

  private pageFor(inode: Inode, pi: number, cause: string): Page {
    let p = inode.pages.get(pi)
    if (!p) {
      p = { block: this.allocBlock(inode, cause), cache: -1 }
      inode.pages.set(pi, p)
    }
    return p
  }

  /** Bring a page of a page-cached file into the page cache; returns the RAM frame. */
  private cached(inode: Inode, p: Page): number {
    if (p.cache >= 0) return p.cache
    const f = this.phys.allocRam(PageFlags.PAGECACHE)
    this.phys.frameView(f).set(this.dax.frameView(p.block))
    p.cache = f
    this.emit(f, inode.ino, inode.name, 'pagecache')
    return f
  }

  private dropCache(p: Page, cause: string): void {
    const f = p.cache
    if (f < 0) return
    p.cache = -1
    if (this.pins?.isPinned(f)) {
      // Like a pinned page truncated out of the mapping: the page lives on
      // (held by the pin) but belongs to no file; freed at the last unpin.
      this.phys.clearFlag(f, PageFlags.PAGECACHE | PageFlags.DIRTY)
      this.orphans.add(f)
      this.emit(f, OWNER_ORPHAN, null, cause)
    } else {
      this.phys.freeRam(f)
      this.emit(f, OWNER_FREE, null, cause)
    }
  }

  private releasePage(p: Page, cause: string): void {
    this.dropCache(p, cause)
    this.freeBlock(p.block, cause)
  }

  private onUnpinned(frame: number): void {
    const r = this.retainedByFrame.get(frame)
    if (r) {
      this.retainedByFrame.delete(frame)
      const i = r.inode.retained.indexOf(r.page)
      if (i >= 0) r.inode.retained.splice(i, 1)
      this.releasePage(r.page, 'retained-unpinned')
      this.counters.retainedReleased++
    }
    if (this.orphans.delete(frame)) {
      this.phys.freeRam(frame)
      this.emit(frame, OWNER_FREE, null, 'orphan-unpinned')
      this.counters.orphansReleased++
    }
  }

  // ---------------------------------------------------------------- namespace

  private newInode(ino: number, name: string, dax: boolean): Inode {
    return { ino, name, size: 0, dax, pages: new Map(), nlink: 1, opens: 0, retained: [], layoutChain: Promise.resolve(), layoutPending: 0 }
  }

  private inode(ino: number): Inode {
    const i = this.inodes.get(ino)
    if (!i) throw new EmuError(ErrorCodes.ENOENT, `no inode ${ino}`)
    return i
  }

  create(name: string, opts: CreateOptions = {}): number {
    if (typeof name !== 'string' || name.length === 0 || name.includes('/')) {
      throw new EmuError(ErrorCodes.EINVAL, `bad file name ${JSON.stringify(name)}`)
    }
    if (this.names.has(name)) throw new EmuError(ErrorCodes.EEXIST, `${name} exists`)
    const inode = this.newInode(this.nextIno++, name, opts.dax ?? false)
    this.inodes.set(inode.ino, inode)
    this.names.set(name, inode.ino)
    return inode.ino
  }

  lookup(name: string): number {
    const ino = this.names.get(name)
    if (ino === undefined) throw new EmuError(ErrorCodes.ENOENT, `${name} not found`)
    return ino
  }

  /** Open by name: holds a reference, so an unlinked file lives until the last close. */
  open(name: string): number {
    const ino = this.lookup(name)
    this.inode(ino).opens++
    return ino
  }

  async close(ino: number): Promise<void> {
    const inode = this.inode(ino)
    if (inode.opens === 0) throw new EmuError(ErrorCodes.EINVAL, `inode ${ino} is not open`)
    inode.opens--
    if (inode.opens === 0 && inode.nlink === 0) await this.destroy(inode)
  }

  /** Remove the name now; blocks are freed (through the layout guard) once no open reference remains. */
  async unlink(name: string): Promise<void> {
    const ino = this.lookup(name)
    const inode = this.inode(ino)
    this.names.delete(name)
    inode.nlink = 0
    if (inode.opens === 0) await this.destroy(inode)
  }

  private async destroy(inode: Inode): Promise<void> {
    await this.layoutOp(inode, 'unlink', 0, Number.MAX_SAFE_INTEGER, 0, () => {})
    this.inodes.delete(inode.ino)
  }

  list(): string[] {
    return [...this.names.keys()].sort()
  }

  stat(ino: number): Stat {
    const i = this.inode(ino)
    let cached = 0
    let dirty = 0
    for (const p of i.pages.values()) {
      if (p.cache >= 0) {
        cached++
        if (this.phys.isDirty(p.cache)) dirty++
      }
    }
    return { ino, name: i.name, size: i.size, dax: i.dax, blocks: i.pages.size, retained: i.retained.length, cachedPages: cached, dirtyPages: dirty, nlink: i.nlink, opens: i.opens }
  }

  private extentsOf(inode: Inode): Extent[] {
    const keys = [...inode.pages.keys()].sort((a, b) => a - b)
    const out: Extent[] = []
    for (const k of keys) {
      const b = inode.pages.get(k)!.block
      const last = out[out.length - 1]
      if (last && last.page + last.len === k && last.block + last.len === b) last.len++
      else out.push({ page: k, block: b, len: 1 })
    }
    return out
  }

  /** The block map as runs of consecutive pages on consecutive blocks. */
  extents(ino: number): Extent[] {
    return this.extentsOf(this.inode(ino))
  }

  /** Device block backing page `pageIndex`, or -1 for a hole. */
  blockOf(ino: number, pageIndex: number): number {
    return this.inode(ino).pages.get(pageIndex)?.block ?? -1
  }

  /** Page-cache frame of a page, or -1 when not cached. */
  cacheFrameOf(ino: number, pageIndex: number): number {
    return this.inode(ino).pages.get(pageIndex)?.cache ?? -1
  }

  /** Blocks owned but outside the visible file (kept by a 'keep' layout decision). */
  retainedBlocks(ino: number): number[] {
    return this.inode(ino).retained.map((p) => p.block)
  }

  freeBlocks(): number {
    return this.freeStack.length
  }

  /** The block the allocator would hand out next (LIFO top), or -1. */
  peekFreeBlock(): number {
    return this.freeStack[this.freeStack.length - 1] ?? -1
  }

  // ---------------------------------------------------------------- data

  read(ino: number, off: number, len: number): Uint8Array {
    const inode = this.inode(ino)
    checkRange(off, len)
    const end = Math.min(off + len, inode.size)
    const out = new Uint8Array(Math.max(0, end - off))
    const ps = this.pageSize
    for (let pos = off; pos < end;) {
      const pi = Math.floor(pos / ps)
      const o = pos - pi * ps
      const n = Math.min(ps - o, end - pos)
      const p = inode.pages.get(pi)
      if (p) {
        const src = inode.dax ? this.dax.frameView(p.block) : this.phys.frameView(this.cached(inode, p))
        out.set(src.subarray(o, o + n), pos - off)
      }
      pos += n
    }
    return out
  }

  /** Write bytes at off, allocating blocks for holes and extending the size. Returns bytes written. */
  write(ino: number, off: number, data: Uint8Array): number {
    const inode = this.inode(ino)
    checkRange(off, data.length)
    const ps = this.pageSize
    const end = off + data.length
    const now = this.clock()
    for (let pos = off; pos < end;) {
      const pi = Math.floor(pos / ps)
      const o = pos - pi * ps
      const n = Math.min(ps - o, end - pos)
      const p = this.pageFor(inode, pi, 'write')
      const src = data.subarray(pos - off, pos - off + n)
      if (inode.dax) {
        this.dax.frameView(p.block).set(src, o)
        this.dax.persist(p.block, o, n)
      } else {
        const f = this.cached(inode, p)
        this.phys.frameView(f).set(src, o)
        this.phys.markDirty(f, now)
      }
      pos += n
      if (pos > inode.size) inode.size = pos
    }
    return data.length
  }

  /**
   * Frames backing [off, off+len): device blocks for DAX files, page-cache
   * frames for page-cached files (brought into the cache). Holes are -1 unless
   * `allocate`, which allocates them. EFAULT past EOF (as GUP past EOF).
   */
  mapRange(ino: number, off: number, len: number, opts: { allocate?: boolean } = {}): number[] {
    const inode = this.inode(ino)
    checkRange(off, len)
    if (len === 0) return []
    if (off + len > inode.size) throw new EmuError(ErrorCodes.EFAULT, `range ${off}+${len} is past EOF (${inode.size})`)
    const ps = this.pageSize
    const out: number[] = []
    for (let pi = Math.floor(off / ps); pi * ps < off + len; pi++) {
      let p = inode.pages.get(pi)
      if (!p && opts.allocate) p = this.pageFor(inode, pi, 'map')
      if (!p) out.push(-1)
      else out.push(inode.dax ? p.block : this.cached(inode, p))
    }
    return out
  }

  /** Zero [off, off+len) inside one page (no allocation). */
  private zeroInPage(inode: Inode, pi: number, o: number, n: number): void {
    const p = inode.pages.get(pi)
    if (!p || n <= 0) return
    if (inode.dax) {
      this.dax.frameView(p.block).fill(0, o, o + n)
      this.dax.persist(p.block, o, n)
    } else {
      const f = this.cached(inode, p)
      this.phys.frameView(f).fill(0, o, o + n)
      this.phys.markDirty(f, this.clock())
    }
  }

  // ---------------------------------------------------------------- layout changes

  /** Install the MMU notifier (ODP invalidation). Called synchronously, before frames are freed or cleaned. */
  setMmuNotifier(fn: MmuNotifier | null): void {
    this.notifier = fn
  }

  private notify(inode: Inode, start: number, end: number, event: MmuEvent): void {
    this.notifier?.(inode.ino, start, end, event)
  }

  /** Install the layout guard (policy hook). Default: always 'proceed'. */
  setLayoutGuard(guard: LayoutGuard | null): void {
    this.guard = guard ?? (() => 'proceed')
  }

  private collect(inode: Inode, start: number, end: number): Array<[number, Page]> {
    const sel: Array<[number, Page]> = []
    for (const [pi, p] of inode.pages) if (pi >= start && pi < end) sel.push([pi, p])
    sel.sort((a, b) => a[0] - b[0])
    return sel
  }

  private static framesOf(sel: Array<[number, Page]>): number[] {
    const f: number[] = []
    for (const [, p] of sel) {
      if (p.cache >= 0) f.push(p.cache)
      f.push(p.block)
    }
    return f
  }

  /**
   * Ask the guard, then apply `before` (size change, tail zeroing) and release
   * pages [start, end). Serialised per inode.
   */
  private layoutOp(inode: Inode, op: LayoutOp, start: number, end: number, newSize: number, before: () => void): Promise<void> {
    const run = async (): Promise<void> => {
      for (;;) {
        if (op !== 'unlink' && !this.inodes.has(inode.ino)) throw new EmuError(ErrorCodes.ENOENT, `inode ${inode.ino} is gone`)
        const sel = this.collect(inode, start, end)
        if (sel.length === 0) { before(); return }
        const frames = FileSystem.framesOf(sel)
        const info: LayoutInfo = {
          name: inode.name, op, startPage: start, endPage: Math.min(end, Number.MAX_SAFE_INTEGER), oldSize: inode.size,
          newSize, dax: inode.dax, blocks: sel.map(([, p]) => p.block), cacheFrames: sel.filter(([, p]) => p.cache >= 0).map(([, p]) => p.cache),
        }
        let d = this.guard(inode.ino, frames, op, info)
        if (isPromise<LayoutDecision>(d)) {
          d = await d
          const again = FileSystem.framesOf(this.collect(inode, start, end))
          if (again.length !== frames.length || again.some((f, i) => f !== frames[i])) continue
        }
        if (typeof d === 'object' && 'error' in d) {
          throw new EmuError(d.error, `${op} of ${inode.name ?? `inode ${inode.ino}`} refused by the layout policy`, { ino: inode.ino, frames })
        }
        const keep = d === 'keep' ? new Set(frames) : typeof d === 'object' ? new Set(d.keep) : null
        // Mappings let go of the pages before anything changes (even retained
        // blocks leave the file's visible range).
        this.notify(inode, start, end, op)
        before()
        for (const [pi, p] of sel) {
          inode.pages.delete(pi)
          const trigger = p.cache >= 0 ? p.cache : inode.dax ? p.block : -1
          if (keep && trigger >= 0 && (keep.has(trigger) || keep.has(p.block)) && this.pins?.isPinned(trigger)) {
            inode.retained.push(p)
            this.retainedByFrame.set(trigger, { inode, page: p })
          } else {
            this.releasePage(p, op)
          }
        }
        return
      }
    }
    // Idle inode: run now, so a synchronous guard applies every effect before
    // the caller's first await. Otherwise queue behind the pending layout op.
    const next = inode.layoutPending === 0 ? run() : inode.layoutChain.then(run, run)
    inode.layoutPending++
    const settled = next.catch(() => {}).then(() => { inode.layoutPending-- })
    inode.layoutChain = settled
    return next
  }

  /**
   * truncate(2). Growing only sets the size (sparse). Shrinking frees every page
   * at or beyond the new EOF (after the layout guard) and zeroes the tail of the
   * last partial page. When the guard answers synchronously all effects are
   * applied before this returns its promise.
   */
  truncate(ino: number, size: number): Promise<void> {
    const inode = this.inode(ino)
    checkRange(size, 0)
    const ps = this.pageSize
    const start = Math.ceil(size / ps)
    return this.layoutOp(inode, 'truncate', start, Number.MAX_SAFE_INTEGER, size, () => {
      if (size < inode.size && size % ps !== 0) this.zeroInPage(inode, Math.floor(size / ps), size % ps, ps - (size % ps))
      inode.size = size
    })
  }

  /**
   * fallocate(2). mode 0: allocate and extend the size; KEEP_SIZE: allocate only;
   * PUNCH_HOLE|KEEP_SIZE: zero partial pages, free whole pages (layout guard).
   * Other modes: EOPNOTSUPP.
   */
  fallocate(ino: number, mode: number, off: number, len: number): Promise<void> {
    const inode = this.inode(ino)
    checkRange(off, len)
    if (len <= 0) return Promise.reject(new EmuError(ErrorCodes.EINVAL, 'fallocate length must be positive'))
    const ps = this.pageSize
    if (mode === (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE)) {
      const end = off + len
      const first = Math.ceil(off / ps)
      const last = Math.floor(end / ps) // exclusive
      return this.layoutOp(inode, 'punch', first, Math.max(first, last), inode.size, () => {
        const zend = Math.min(end, inode.size)
        if (first > last) {
          // The whole hole sits inside one page.
          this.zeroInPage(inode, Math.floor(off / ps), off % ps, zend - off)
          return
        }
        if (off % ps !== 0) this.zeroInPage(inode, first - 1, off % ps, ps - (off % ps))
        if (end % ps !== 0 && last * ps < zend) this.zeroInPage(inode, last, 0, zend - last * ps)
      })
    }
    if (mode !== 0 && mode !== FALLOC_FL_KEEP_SIZE) {
      return Promise.reject(new EmuError(ErrorCodes.EOPNOTSUPP, `fallocate mode ${mode} not supported`))
    }
    try {
      for (let pi = Math.floor(off / ps); pi * ps < off + len; pi++) this.pageFor(inode, pi, 'fallocate')
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
    if (this.pins?.isPinned(frame)) this.counters.mkcleanPinned++
    return this.phys.clearDirty(frame)
  }

  private writebackPage(inode: Inode, pi: number, p: Page, out: FsyncResult): void {
    const f = p.cache
    if (this.pins?.isPinned(f)) {
      if (this.writebackMode === 'keep-dirty') {
        this.counters.keptDirtyPinned++
        out.skippedPinned++
        return
      }
      // Bounce: a stable snapshot goes to disk; the page stays dirty (re-armed),
      // since DMA may keep writing into it.
      const bounce = this.phys.frameView(f).slice()
      this.dax.frameView(p.block).set(bounce)
      this.dax.persist(p.block)
      this.phys.dirtySince[f] = this.clock()
      this.counters.bouncePages++
      this.counters.bounceBytes += bounce.length
      out.bounced++
      return
    }
    // Clean before copying, so a store racing the copy re-dirties the page
    // (ODP mappings are write-protected first: their next write faults and re-dirties it).
    this.notify(inode, pi, pi + 1, 'mkclean')
    this.pageMkclean(f)
    this.dax.frameView(p.block).set(this.phys.frameView(f))
    this.dax.persist(p.block)
    this.counters.writebackPages++
    out.written++
  }

  /** Periodic writeback: pages dirty for at least dirtyExpireMs at `now`. */
  writeback(now = this.clock()): FsyncResult {
    const out: FsyncResult = { written: 0, bounced: 0, skippedPinned: 0 }
    for (const inode of this.inodes.values()) {
      if (inode.dax) continue
      for (const [pi, p] of inode.pages) {
        if (p.cache < 0 || !this.phys.isDirty(p.cache)) continue
        const since = this.phys.dirtySince[p.cache]!
        if (since !== 0 && now - since >= this.dirtyExpireMs) this.writebackPage(inode, pi, p, out)
      }
    }
    return out
  }

  startWriteback(intervalMs: number = Params.defaultWritebackIntervalMs): void {
    this.stopWriteback()
    this.timer = setInterval(() => this.writeback(), intervalMs)
    this.timer.unref()
  }

  stopWriteback(): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = null
  }

  /**
   * fsync(2): write back every dirty page of the file (DAX: persist its blocks),
   * then commit the metadata. With 'keep-dirty', pinned dirty pages are not
   * written (skippedPinned > 0: "fsync is broken", counted as fsyncIncomplete).
   */
  fsync(ino: number): FsyncResult {
    const inode = this.inode(ino)
    const out: FsyncResult = { written: 0, bounced: 0, skippedPinned: 0 }
    this.syncInode(inode, out)
    this.commit()
    this.counters.fsyncCalls++
    if (out.skippedPinned > 0) this.counters.fsyncIncomplete++
    return out
  }

  /** syncfs: every file, then one commit. */
  syncAll(): FsyncResult {
    const out: FsyncResult = { written: 0, bounced: 0, skippedPinned: 0 }
    for (const inode of this.inodes.values()) this.syncInode(inode, out)
    this.commit()
    return out
  }

  private syncInode(inode: Inode, out: FsyncResult): void {
    if (inode.dax) {
      this.dax.persistRange([...inode.pages.values()].map((p) => p.block))
      out.written += inode.pages.size
      return
    }
    for (const [pi, p] of inode.pages) {
      if (p.cache >= 0 && this.phys.isDirty(p.cache)) this.writebackPage(inode, pi, p, out)
    }
  }

  /** Drop clean, unpinned page-cache pages (echo 1 > drop_caches). Returns pages dropped. */
  dropCaches(): number {
    let n = 0
    for (const inode of this.inodes.values()) {
      for (const [pi, p] of inode.pages) {
        if (p.cache >= 0 && !this.phys.isDirty(p.cache) && !this.pins?.isPinned(p.cache)) {
          this.notify(inode, pi, pi + 1, 'drop-caches')
          this.dropCache(p, 'drop-caches')
          n++
        }
      }
    }
    return n
  }

  dirtyPages(): number {
    let n = 0
    for (const inode of this.inodes.values()) for (const p of inode.pages.values()) if (p.cache >= 0 && this.phys.isDirty(p.cache)) n++
    return n
  }

  stats(): FsCounters & { freeBlocks: number; dirtyPages: number; retained: number; orphans: number; files: number } {
    return { ...this.counters, freeBlocks: this.freeStack.length, dirtyPages: this.dirtyPages(), retained: this.retainedByFrame.size, orphans: this.orphans.size, files: this.names.size }
  }

  /** Stop the timer and the pin listener. Persists nothing (call syncAll first for a clean shutdown). */
  shutdown(): void {
    this.stopWriteback()
    this.unsubscribe?.()
  }
}

function checkRange(off: number, len: number): void {
  if (!Number.isSafeInteger(off) || off < 0 || !Number.isSafeInteger(len) || len < 0) {
    throw new EmuError(ErrorCodes.EINVAL, `bad offset/length ${off}/${len}`)
  }
}
