/**
 * Layout changes: truncate, punch hole and unlink release pages only after the
 * layout guard agreed, and tell the MMU notifier before anything changes. A
 * 'keep' decision leaves pinned pages retained by the file, outside its
 * visible range, until their last pin drops. An 'extend' decision leaves them
 * in the file, visible: a truncate grows the file back to the end of the last
 * one (never past the old size).
 */
import { EmuError, ErrorCodes } from '../errors.ts'
import type { FsContext } from './fs-context.ts'
import type { FileData } from './fs-file-data.ts'
import type { LayoutDecision, LayoutGuard, LayoutInfo, LayoutOp } from './fs-hooks.ts'
import type { Inode, Namespace, Page } from './fs-namespace.ts'
import type { PageCache } from './fs-page-cache.ts'

const isPromise = <T>(v: unknown): v is Promise<T> => typeof (v as { then?: unknown })?.then === 'function'

function collect(inode: Inode, start: number, end: number): Array<[number, Page]> {
  const sel: Array<[number, Page]> = []
  for (const [pi, p] of inode.pages) if (pi >= start && pi < end) sel.push([pi, p])
  sel.sort((a, b) => a[0] - b[0])
  return sel
}

function framesOf(sel: Array<[number, Page]>): number[] {
  const f: number[] = []
  for (const [, p] of sel) {
    if (p.cache >= 0) f.push(p.cache)
    f.push(p.block)
  }
  return f
}

export class LayoutChanges {
  private guard: LayoutGuard = () => 'proceed'
  private readonly retainedByFrame = new Map<number, { inode: Inode; page: Page }>()

  constructor(
    private readonly ctx: FsContext,
    private readonly ns: Namespace,
    private readonly cache: PageCache,
    private readonly data: FileData,
  ) {}

  /** null restores the default guard, which always answers 'proceed'. */
  setGuard(guard: LayoutGuard | null): void {
    this.guard = guard ?? (() => 'proceed')
  }

  /**
   * Ask the guard, then apply `before` (size change, tail zeroing) and release
   * pages [start, end). Serialised per inode.
   */
  private change(inode: Inode, op: LayoutOp, start: number, end: number, newSize: number, before: (stays: (pi: number) => boolean) => void, signal?: AbortSignal): Promise<void> {
    const run = async (): Promise<void> => {
      for (;;) {
        if (op !== 'unlink' && !this.ns.has(inode.ino)) throw new EmuError(ErrorCodes.ENOENT, `inode ${inode.ino} is gone`)
        if (signal?.aborted) throw new EmuError(ErrorCodes.EINTR, `${op} of ${inode.name ?? `inode ${inode.ino}`} interrupted`)
        const sel = collect(inode, start, end)
        if (sel.length === 0) { before(() => false); return }
        const frames = framesOf(sel)
        const info: LayoutInfo = {
          name: inode.name, op, startPage: start, endPage: Math.min(end, Number.MAX_SAFE_INTEGER), oldSize: inode.size,
          newSize, dax: inode.dax, blocks: sel.map(([, p]) => p.block), cacheFrames: sel.filter(([, p]) => p.cache >= 0).map(([, p]) => p.cache),
          ...(signal ? { signal } : {}),
        }
        let d = this.guard(inode.ino, frames, op, info)
        if (isPromise<LayoutDecision>(d)) {
          // fs/dax.c dax_layout_busy_page_range(): unmap the range first
          // (unmap_mapping_pages; here the MMU notifier, so ODP MRs drop their
          // mappings), then wait for the busy pages. Synchronous, before any
          // await, so nothing maps the range between the decision and the wait.
          if (inode.dax) {
            this.ctx.notify(inode.ino, start, end, op)
            this.ctx.counters.unmappedBeforeWait++
          }
          d = await d
          const again = framesOf(collect(inode, start, end))
          if (again.length !== frames.length || again.some((f, i) => f !== frames[i])) continue
        }
        if (typeof d === 'object' && 'error' in d) {
          throw new EmuError(d.error, `${op} of ${inode.name ?? `inode ${inode.ino}`} refused by the layout policy`, { ino: inode.ino, frames })
        }
        const keep = d === 'keep' ? new Set(frames) : typeof d === 'object' ? new Set(d.keep) : null
        const pinnedPage = (p: Page): boolean => {
          const trigger = p.cache >= 0 ? p.cache : inode.dax ? p.block : -1
          return trigger >= 0 && this.ctx.pins?.isPinned(trigger) === true
        }
        // 'extend': pinned pages stay where they are, visible.
        const stays = (pi: number): boolean => {
          const p = inode.pages.get(pi)
          return d === 'extend' && p !== undefined && pinnedPage(p)
        }
        // Mappings let go of the pages before anything changes (even retained
        // blocks leave the file's visible range).
        this.ctx.notify(inode.ino, start, end, op)
        const oldSize = inode.size
        let grownTo = 0
        for (const [pi] of sel) if (stays(pi)) grownTo = Math.max(grownTo, (pi + 1) * this.ctx.pageSize)
        before(stays)
        if (grownTo > inode.size) inode.size = Math.min(oldSize, grownTo)
        for (const [pi, p] of sel) {
          if (d === 'extend' && pinnedPage(p)) continue
          inode.pages.delete(pi)
          const trigger = p.cache >= 0 ? p.cache : inode.dax ? p.block : -1
          if (keep && trigger >= 0 && (keep.has(trigger) || keep.has(p.block)) && this.ctx.pins?.isPinned(trigger)) {
            inode.retained.push(p)
            this.retainedByFrame.set(trigger, { inode, page: p })
          } else {
            this.cache.releasePage(p, op)
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

  /** Shrink or grow to `size` (see FileSystem.truncate); `signal` interrupts a wait (EINTR). */
  truncate(inode: Inode, size: number, signal?: AbortSignal): Promise<void> {
    const ps = this.ctx.pageSize
    const start = Math.ceil(size / ps)
    return this.change(inode, 'truncate', start, Number.MAX_SAFE_INTEGER, size, (stays) => {
      // The partial last page keeps its tail when the file grows back over it
      // (pinned, 'extend'): the extending write rewrites what the NIC wrote.
      const partial = Math.floor(size / ps)
      const keepsTail = size % ps !== 0 && size < inode.size && stays(partial)
      if (size < inode.size && size % ps !== 0 && !keepsTail) this.data.zeroInPage(inode, partial, size % ps, ps - (size % ps))
      inode.size = keepsTail ? Math.min(inode.size, (partial + 1) * ps) : size
    }, signal)
  }

  /** PUNCH_HOLE over [off, off+len): zero partial pages, release whole pages. */
  punchHole(inode: Inode, off: number, len: number, signal?: AbortSignal): Promise<void> {
    const ps = this.ctx.pageSize
    const end = off + len
    const first = Math.ceil(off / ps)
    const last = Math.floor(end / ps) // exclusive
    return this.change(inode, 'punch', first, Math.max(first, last), inode.size, () => {
      const zend = Math.min(end, inode.size)
      if (first > last) {
        // The whole hole sits inside one page.
        this.data.zeroInPage(inode, Math.floor(off / ps), off % ps, zend - off)
        return
      }
      if (off % ps !== 0) this.data.zeroInPage(inode, first - 1, off % ps, ps - (off % ps))
      if (end % ps !== 0 && last * ps < zend) this.data.zeroInPage(inode, last, 0, zend - last * ps)
    }, signal)
  }

  /** Release every page of an unlinked, closed file. */
  releaseAll(inode: Inode): Promise<void> {
    return this.change(inode, 'unlink', 0, Number.MAX_SAFE_INTEGER, 0, () => {})
  }

  /** Last pin of `frame` dropped: free the retained page it kept, if any. */
  releaseRetained(frame: number): void {
    const r = this.retainedByFrame.get(frame)
    if (r) {
      this.retainedByFrame.delete(frame)
      const i = r.inode.retained.indexOf(r.page)
      if (i >= 0) r.inode.retained.splice(i, 1)
      this.cache.releasePage(r.page, 'retained-unpinned')
      this.ctx.counters.retainedReleased++
    }
  }

  retainedCount(): number {
    return this.retainedByFrame.size
  }
}
