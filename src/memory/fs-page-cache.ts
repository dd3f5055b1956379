/**
 * The page cache of page-cached files: copies of device blocks in RAM frames
 * (PG_dirty + dirty timestamp live in PhysMem). A page dropped while pinned
 * becomes an orphan: it belongs to no file and is freed at its last unpin.
 */
import type { BlockAllocator } from './fs-block-allocator.ts'
import type { FsContext } from './fs-context.ts'
import type { Inode, Namespace, Page } from './fs-namespace.ts'
import { OWNER_FREE, OWNER_ORPHAN } from './oracle.ts'
import { PageFlags } from './phys.ts'

export class PageCache {
  private readonly orphans = new Set<number>()

  constructor(
    private readonly ctx: FsContext,
    private readonly ns: Namespace,
    private readonly blocks: BlockAllocator,
  ) {}

  /** Bring a page of a page-cached file into the page cache; returns the RAM frame. */
  cached(inode: Inode, p: Page): number {
    if (p.cache >= 0) return p.cache
    const { phys, dax } = this.ctx
    const f = phys.allocRam(PageFlags.PAGECACHE)
    phys.frameView(f).set(dax.frameView(p.block))
    p.cache = f
    this.ctx.emit(f, inode.ino, inode.name, 'pagecache')
    return f
  }

  drop(p: Page, cause: string): void {
    const f = p.cache
    if (f < 0) return
    p.cache = -1
    if (this.ctx.pins?.isPinned(f)) {
      // Like a pinned page truncated out of the mapping: the page lives on
      // (held by the pin) but belongs to no file; freed at the last unpin.
      this.ctx.phys.clearFlag(f, PageFlags.PAGECACHE | PageFlags.DIRTY)
      this.orphans.add(f)
      this.ctx.emit(f, OWNER_ORPHAN, null, cause)
    } else {
      this.ctx.phys.freeRam(f)
      this.ctx.emit(f, OWNER_FREE, null, cause)
    }
  }

  /** The page leaves its file: drop its cached copy, free its block. */
  releasePage(p: Page, cause: string): void {
    this.drop(p, cause)
    this.blocks.free(p.block, cause)
  }

  /** Last pin of `frame` dropped: free it if it was an orphan. */
  releaseOrphan(frame: number): void {
    if (this.orphans.delete(frame)) {
      this.ctx.phys.freeRam(frame)
      this.ctx.emit(frame, OWNER_FREE, null, 'orphan-unpinned')
      this.ctx.counters.orphansReleased++
    }
  }

  orphanCount(): number {
    return this.orphans.size
  }

  /** FileSystem.dropCaches: clean, unpinned pages leave the cache (the notifier hears first). */
  dropCaches(): number {
    let n = 0
    for (const inode of this.ns.all()) {
      for (const [pi, p] of inode.pages) {
        if (p.cache >= 0 && !this.ctx.phys.isDirty(p.cache) && !this.ctx.pins?.isPinned(p.cache)) {
          this.ctx.notify(inode.ino, pi, pi + 1, 'drop-caches')
          this.drop(p, 'drop-caches')
          n++
        }
      }
    }
    return n
  }

  /** Cached and dirty pages of one file. */
  countOf(inode: Inode): { cached: number; dirty: number } {
    let cached = 0
    let dirty = 0
    for (const p of inode.pages.values()) {
      if (p.cache >= 0) {
        cached++
        if (this.ctx.phys.isDirty(p.cache)) dirty++
      }
    }
    return { cached, dirty }
  }

  /** Dirty pages of every file. */
  dirtyPages(): number {
    let n = 0
    for (const inode of this.ns.all()) for (const p of inode.pages.values()) if (p.cache >= 0 && this.ctx.phys.isDirty(p.cache)) n++
    return n
  }
}
