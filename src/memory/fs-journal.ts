/**
 * Metadata persistence. Names, sizes, block maps, the allocator stack and the
 * next inode number are committed to `fs-meta.json` on fsync, after the data
 * blocks (data=ordered). A commit covers every file, like a journal commit.
 * After kill -9 the last commit is what comes back.
 */
import * as nodefs from 'node:fs'
import * as path from 'node:path'
import { EmuError, ErrorCodes } from '../errors.ts'
import type { BlockAllocator } from './fs-block-allocator.ts'
import type { FsContext } from './fs-context.ts'
import { extentsOf, type Namespace } from './fs-namespace.ts'

export const FS_META = 'fs-meta.json'

interface MetaFile {
  version: 1
  pageSize: number
  deviceFrames: number
  nextIno: number
  free: number[]
  inodes: Array<{ ino: number; name: string; size: number; dax: boolean; extents: Array<[number, number, number]> }>
}

export class FsJournal {
  constructor(
    private readonly dataDir: string,
    private readonly ctx: FsContext,
    private readonly ns: Namespace,
    private readonly blocks: BlockAllocator,
  ) {}

  private metaPath(): string {
    return path.join(this.dataDir, FS_META)
  }

  /** Bring back the last commit (every block on load is an owner event), or format a fresh device. */
  load(): void {
    const D = this.ctx.phys.deviceFrames
    let meta: MetaFile | null = null
    try {
      meta = JSON.parse(nodefs.readFileSync(this.metaPath(), 'utf8')) as MetaFile
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    }
    if (!meta) {
      this.blocks.format()
      return
    }
    if (meta.pageSize !== this.ctx.pageSize || meta.deviceFrames !== D) {
      throw new EmuError(ErrorCodes.EINVAL, `${FS_META} was made for pageSize ${meta.pageSize} x ${meta.deviceFrames} blocks`)
    }
    const used = new Uint8Array(D)
    this.ns.nextIno = meta.nextIno
    for (const m of meta.inodes) {
      const inode = this.ns.add(m.ino, m.name, m.dax)
      inode.size = m.size
      for (const [page, block, len] of m.extents) {
        for (let i = 0; i < len; i++) {
          inode.pages.set(page + i, { block: block + i, cache: -1 })
          used[block + i] = 1
          this.ctx.emit(block + i, inode.ino, inode.name, 'load')
        }
      }
    }
    this.blocks.restore(used, meta.free)
  }

  commit(): void {
    this.blocks.persistNew()
    const meta: MetaFile = {
      version: 1,
      pageSize: this.ctx.pageSize,
      deviceFrames: this.ctx.phys.deviceFrames,
      nextIno: this.ns.nextIno,
      free: this.blocks.snapshot(),
      inodes: [],
    }
    for (const inode of this.ns.all()) {
      if (inode.nlink === 0 || inode.name === null) continue
      meta.inodes.push({ ino: inode.ino, name: inode.name, size: inode.size, dax: inode.dax, extents: extentsOf(inode).map((e) => [e.page, e.block, e.len]) })
    }
    const tmp = this.metaPath() + '.tmp'
    const fd = nodefs.openSync(tmp, 'w', 0o644)
    try {
      nodefs.writeSync(fd, JSON.stringify(meta))
      nodefs.fsyncSync(fd)
    } finally {
      nodefs.closeSync(fd)
    }
    this.ctx.dax.sync() // data blocks durable before the metadata that points at them
    nodefs.renameSync(tmp, this.metaPath())
    try {
      const dfd = nodefs.openSync(this.dataDir, 'r')
      try { nodefs.fsyncSync(dfd) } finally { nodefs.closeSync(dfd) }
    } catch { /* directory fsync unsupported: best effort */ }
    this.ctx.counters.metaCommits++
  }
}
