/**
 * The device block allocator: a LIFO stack. The most recently freed block is
 * the next one handed out, so "freed under a pin, reused by another file" is
 * reproducible. New blocks are zeroed.
 */
import { EmuError, ErrorCodes } from '../errors.ts'
import type { FsContext } from './fs-context.ts'
import type { Inode, Page } from './fs-namespace.ts'
import { OWNER_FREE } from './oracle.ts'

export class BlockAllocator {
  private freeStack: number[] = []
  /** Blocks allocated (and zeroed) since the last commit: persisted before the metadata that points at them. */
  private readonly unpersistedBlocks = new Set<number>()

  constructor(private readonly ctx: FsContext) {}

  /** A fresh device: every block free, block 0 handed out first. */
  format(): void {
    for (let b = this.ctx.phys.deviceFrames - 1; b >= 0; b--) this.freeStack.push(b)
  }

  /**
   * Rebuild the stack from committed metadata: `used` marks blocks some inode
   * maps, `committedFree` is the committed stack (bottom first).
   */
  restore(used: Uint8Array, committedFree: readonly number[]): void {
    const D = this.ctx.phys.deviceFrames
    // Keep the committed LIFO order; blocks neither used nor listed (freed by an
    // inode that was never committed) go to the bottom of the stack.
    const listed = new Set<number>()
    const inFree = new Set(committedFree)
    const stack: number[] = []
    for (let b = D - 1; b >= 0; b--) if (!used[b] && !inFree.has(b)) stack.push(b)
    for (const b of committedFree) if (!used[b] && !listed.has(b)) { listed.add(b); stack.push(b) }
    this.freeStack = stack
  }

  alloc(inode: Inode, cause: string): number {
    // Injected ENOSPC: every new block is refused; blocks already allocated stay writable.
    this.ctx.faults.checkAlloc()
    const b = this.freeStack.pop()
    if (b === undefined) throw new EmuError(ErrorCodes.ENOSPC, 'no free blocks on the DAX device')
    const ps = this.ctx.pageSize
    this.ctx.dax.bytes.fill(0, b * ps, (b + 1) * ps)
    this.unpersistedBlocks.add(b)
    this.ctx.counters.blocksAllocated++
    this.ctx.emit(b, inode.ino, inode.name, cause)
    return b
  }

  free(b: number, cause: string): void {
    this.freeStack.push(b)
    this.unpersistedBlocks.delete(b)
    this.ctx.counters.blocksFreed++
    this.ctx.emit(b, OWNER_FREE, null, cause)
  }

  /** The inode's page `pi`, allocating a block for a hole. */
  pageFor(inode: Inode, pi: number, cause: string): Page {
    let p = inode.pages.get(pi)
    if (!p) {
      p = { block: this.alloc(inode, cause), cache: -1 }
      inode.pages.set(pi, p)
    }
    return p
  }

  /** Persist every block allocated since the last call (the commit's first step). */
  persistNew(): void {
    this.ctx.dax.persistRange(this.unpersistedBlocks)
    this.unpersistedBlocks.clear()
  }

  /** The stack, bottom first (what a commit records). */
  snapshot(): number[] {
    return this.freeStack.slice()
  }

  count(): number {
    return this.freeStack.length
  }

  /** LIFO top, or -1. */
  peek(): number {
    return this.freeStack[this.freeStack.length - 1] ?? -1
  }
}
