/**
 * File contents: read, write, zeroing and the frames an MR maps.
 * DAX files: read/write go straight to device blocks; write() persists the
 * written bytes at once (DAX write is copy + flush). Page-cached files go
 * through the page cache and leave the pages dirty for writeback.
 */
import { EmuError, ErrorCodes } from '../errors.ts'
import type { BlockAllocator } from './fs-block-allocator.ts'
import type { FsContext } from './fs-context.ts'
import { checkRange, type Inode } from './fs-namespace.ts'
import type { PageCache } from './fs-page-cache.ts'

export class FileData {
  constructor(
    private readonly ctx: FsContext,
    private readonly blocks: BlockAllocator,
    private readonly cache: PageCache,
  ) {}

  read(inode: Inode, off: number, len: number): Uint8Array {
    checkRange(off, len)
    const end = Math.min(off + len, inode.size)
    const out = new Uint8Array(Math.max(0, end - off))
    const ps = this.ctx.pageSize
    for (let pos = off; pos < end;) {
      const pi = Math.floor(pos / ps)
      const o = pos - pi * ps
      const n = Math.min(ps - o, end - pos)
      const p = inode.pages.get(pi)
      if (p) {
        const src = inode.dax ? this.ctx.dax.frameView(p.block) : this.ctx.phys.frameView(this.cache.cached(inode, p))
        out.set(src.subarray(o, o + n), pos - off)
      }
      pos += n
    }
    return out
  }

  /** FileSystem.write: holes get blocks, the size grows. */
  write(inode: Inode, off: number, data: Uint8Array): number {
    checkRange(off, data.length)
    const { dax, phys } = this.ctx
    const ps = this.ctx.pageSize
    const end = off + data.length
    const now = this.ctx.clock()
    for (let pos = off; pos < end;) {
      const pi = Math.floor(pos / ps)
      const o = pos - pi * ps
      const n = Math.min(ps - o, end - pos)
      const p = this.blocks.pageFor(inode, pi, 'write')
      const src = data.subarray(pos - off, pos - off + n)
      if (inode.dax) {
        dax.frameView(p.block).set(src, o)
        dax.persist(p.block, o, n)
      } else {
        const f = this.cache.cached(inode, p)
        phys.frameView(f).set(src, o)
        phys.markDirty(f, now)
      }
      pos += n
      if (pos > inode.size) inode.size = pos
    }
    return data.length
  }

  /** Allocate every hole in [off, off+len) (fallocate without PUNCH_HOLE). */
  allocate(inode: Inode, off: number, len: number): void {
    const ps = this.ctx.pageSize
    for (let pi = Math.floor(off / ps); pi * ps < off + len; pi++) this.blocks.pageFor(inode, pi, 'fallocate')
  }

  /** FileSystem.mapRange: DAX blocks or page-cache frames, -1 for holes; EFAULT past EOF. */
  mapRange(inode: Inode, off: number, len: number, opts: { allocate?: boolean }): number[] {
    checkRange(off, len)
    if (len === 0) return []
    if (off + len > inode.size) throw new EmuError(ErrorCodes.EFAULT, `range ${off}+${len} is past EOF (${inode.size})`)
    const ps = this.ctx.pageSize
    const out: number[] = []
    for (let pi = Math.floor(off / ps); pi * ps < off + len; pi++) {
      let p = inode.pages.get(pi)
      if (!p && opts.allocate) p = this.blocks.pageFor(inode, pi, 'map')
      if (!p) out.push(-1)
      else out.push(inode.dax ? p.block : this.cache.cached(inode, p))
    }
    return out
  }

  /** Zero [off, off+len) inside one page (no allocation). */
  zeroInPage(inode: Inode, pi: number, o: number, n: number): void {
    const p = inode.pages.get(pi)
    if (!p || n <= 0) return
    if (inode.dax) {
      this.ctx.dax.frameView(p.block).fill(0, o, o + n)
      this.ctx.dax.persist(p.block, o, n)
    } else {
      const f = this.cache.cached(inode, p)
      this.ctx.phys.frameView(f).fill(0, o, o + n)
      this.ctx.phys.markDirty(f, this.ctx.clock())
    }
  }
}
