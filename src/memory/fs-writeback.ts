/**
 * Writeback of page-cached files: writeback(now) of pages dirty for longer
 * than dirtyExpireMs (periodic, like the flusher threads), fsync's write of
 * every dirty page of a file, and page_mkclean.
 *
 * Writeback of a PINNED page-cache page, by mode (config `server.writebackMode`):
 * - 'upstream' (the default, Linux today): a pinned page is written and cleaned
 *   like any other (mm/page-writeback.c write_cache_pages -> folio_clear_dirty_for_io,
 *   which calls folio_mkclean). DMA then lands in a clean page, which is written
 *   again only if something dirties it again: seed 001's hazard. Counted as
 *   mkcleanPinned.
 * - 'keep-dirty' (proposal, seed 001: "keep the page always dirty and never
 *   allow page write back"): never written or cleaned; fsync is incomplete.
 * - 'bounce' (proposal, seed 001: "write back using a bounce page"): a snapshot
 *   is written and the page stays dirty, because DMA into it may continue.
 */
import { Params } from '../params.ts'
import type { FsContext } from './fs-context.ts'
import type { Inode, Namespace, Page } from './fs-namespace.ts'

/** Linux's behaviour first, then seed 001's two proposals. */
export const WRITEBACK_MODES = ['upstream', 'keep-dirty', 'bounce'] as const
export type WritebackMode = (typeof WRITEBACK_MODES)[number]

export interface FsyncResult {
  written: number
  bounced: number
  skippedPinned: number
}

export const emptyFsyncResult = (): FsyncResult => ({ written: 0, bounced: 0, skippedPinned: 0 })

export class Writeback {
  private timer: NodeJS.Timeout | null = null

  constructor(
    private readonly ctx: FsContext,
    private readonly ns: Namespace,
    readonly mode: WritebackMode,
    readonly dirtyExpireMs: number,
  ) {}

  /** FileSystem.pageMkclean: clear PG_dirty; cleaning a pinned page (seed 001's hazard) is counted. */
  pageMkclean(frame: number): boolean {
    if (this.ctx.pins?.isPinned(frame)) this.ctx.counters.mkcleanPinned++
    return this.ctx.phys.clearDirty(frame)
  }

  private writebackPage(inode: Inode, pi: number, p: Page, out: FsyncResult): void {
    const { dax, phys, counters } = this.ctx
    const f = p.cache
    if (this.mode !== 'upstream' && this.ctx.pins?.isPinned(f)) {
      if (this.mode === 'keep-dirty') {
        counters.keptDirtyPinned++
        out.skippedPinned++
        return
      }
      // Bounce: a stable snapshot goes to disk; the page stays dirty (re-armed),
      // since DMA may keep writing into it.
      const bounce = phys.frameView(f).slice()
      dax.frameView(p.block).set(bounce)
      dax.persist(p.block)
      phys.dirtySince[f] = this.ctx.clock()
      counters.bouncePages++
      counters.bounceBytes += bounce.length
      out.bounced++
      return
    }
    // Clean before copying, so a store racing the copy re-dirties the page
    // (ODP mappings are write-protected first: their next write faults and re-dirties it).
    // A pinned page is cleaned too under 'upstream' (pageMkclean counts it):
    // DMA never faults, so what the NIC writes next stays in a clean page.
    this.ctx.notify(inode.ino, pi, pi + 1, 'mkclean')
    this.pageMkclean(f)
    dax.frameView(p.block).set(phys.frameView(f))
    dax.persist(p.block)
    counters.writebackPages++
    out.written++
  }

  /** Pages dirty for at least dirtyExpireMs at `now`. */
  writeback(now: number): FsyncResult {
    const { phys } = this.ctx
    const out = emptyFsyncResult()
    for (const inode of this.ns.all()) {
      if (inode.dax) continue
      for (const [pi, p] of inode.pages) {
        if (p.cache < 0 || !phys.isDirty(p.cache)) continue
        const since = phys.dirtySince[p.cache]!
        if (since !== 0 && now - since >= this.dirtyExpireMs) this.writebackPage(inode, pi, p, out)
      }
    }
    return out
  }

  /** Every dirty page of one file (DAX: persist its blocks), adding to `out`. */
  syncInode(inode: Inode, out: FsyncResult): void {
    if (inode.dax) {
      this.ctx.dax.persistRange([...inode.pages.values()].map((p) => p.block))
      out.written += inode.pages.size
      return
    }
    for (const [pi, p] of inode.pages) {
      if (p.cache >= 0 && this.ctx.phys.isDirty(p.cache)) this.writebackPage(inode, pi, p, out)
    }
  }

  start(intervalMs: number = Params.defaultWritebackIntervalMs): void {
    this.stop()
    this.timer = setInterval(() => this.writeback(this.ctx.clock()), intervalMs)
    this.timer.unref()
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = null
  }
}
