/**
 * The filesystem's outward hooks: what it asks or tells the rest of the server
 * before a frame changes hands.
 *
 * - The layout guard (the pin policy, src/memory/policy.ts) is asked before
 *   truncate / punch hole / unlink free blocks.
 * - The MMU notifier (ODP) hears, synchronously, about every page whose frame a
 *   mapping must stop using, BEFORE the frame is freed or cleaned.
 * - Owner events (the oracle) follow every block/frame ownership change.
 */
import type { ErrorCode } from '../errors.ts'

export type LayoutOp = 'truncate' | 'punch' | 'unlink'
/**
 * 'proceed': free now. 'keep': frames that are pinned stay owned by the file
 * (out of its visible range) until their last pin drops; unpinned ones are
 * freed now. {keep: frames}: the same for a subset. 'extend': pinned pages stay
 * IN the file, visible (a truncate then grows the file back over them, as if
 * the truncate were followed by a write extending it again, seed 000 option
 * 4); unpinned ones are freed (holes). {error}: the operation fails with that
 * code and nothing changes.
 */
export type LayoutDecision = 'proceed' | 'keep' | 'extend' | { keep: readonly number[] } | { error: ErrorCode }
export interface LayoutInfo {
  name: string | null
  op: LayoutOp
  /** Page range released: [startPage, endPage). */
  startPage: number
  endPage: number
  oldSize: number
  newSize: number
  dax: boolean
  /** Device blocks that would be freed. */
  blocks: number[]
  /** Page-cache RAM frames that would be dropped (page-cached files). */
  cacheFrames: number[]
  /**
   * Interrupts a wait (a signal to the truncating process): a guard that waits
   * gives up with EINTR when it aborts (the wait in fs/dax.c is
   * TASK_INTERRUPTIBLE).
   */
  signal?: AbortSignal
}
/**
 * Called before blocks are freed, with every frame the operation would release
 * (device blocks and page-cache frames): the frames an MR could have pinned.
 * May return a Promise (wait for unpin, lease break ...); the frames are then
 * collected again and, if they changed, the guard is asked again.
 */
export type LayoutGuard = (ino: number, frames: readonly number[], op: LayoutOp, info: LayoutInfo) => LayoutDecision | Promise<LayoutDecision>

/**
 * Why pages stop being mappable as they were. 'mkclean' keeps the frame (it is
 * write-protected for writeback: the next write must fault and re-dirty it);
 * every other event takes the frame away from the file's page.
 */
export type MmuEvent = LayoutOp | 'drop-caches' | 'mkclean'
/** mmu_notifier invalidate_range_start analogue: pages [startPage, endPage) of inode `ino`. */
export type MmuNotifier = (ino: number, startPage: number, endPage: number, event: MmuEvent) => void

export interface OwnerEvent {
  frame: number
  /** New owner: inode number, OWNER_FREE or OWNER_ORPHAN. */
  owner: number
  name: string | null
  cause: string
}
