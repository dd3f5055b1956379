/**
 * What every part of the filesystem shares: the device, the frame table, the
 * pins, the clock, one counters object, and the two hooks every part may call
 * (owner events and the MMU notifier). The FileSystem facade builds it once.
 */
import type { DaxDevice } from './dax.ts'
import type { MmuEvent } from './fs-hooks.ts'
import type { PhysMem } from './phys.ts'
import type { PinTable } from './pins.ts'
import type { StorageFaults } from './storage-faults.ts'

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
  /** DAX layout changes that unmapped their range before waiting for busy pages (dax_layout_busy_page_range). */
  unmappedBeforeWait: number
}

export function newFsCounters(): FsCounters {
  return {
    blocksAllocated: 0, blocksFreed: 0, writebackPages: 0, bouncePages: 0, bounceBytes: 0,
    keptDirtyPinned: 0, mkcleanPinned: 0, fsyncCalls: 0, fsyncIncomplete: 0, metaCommits: 0,
    retainedReleased: 0, orphansReleased: 0, unmappedBeforeWait: 0,
  }
}

export interface FsContext {
  readonly pageSize: number
  readonly dax: DaxDevice
  readonly phys: PhysMem
  readonly pins: PinTable | null
  readonly clock: () => number
  readonly counters: FsCounters
  /** Injected storage faults: the allocator refuses new blocks under ENOSPC. */
  readonly faults: StorageFaults
  /** A block or frame changed owner (inode number, OWNER_FREE or OWNER_ORPHAN). */
  emit(frame: number, owner: number, name: string | null, cause: string): void
  /** The MMU notifier, if one is installed: synchronously, before frames are freed or cleaned. */
  notify(ino: number, startPage: number, endPage: number, event: MmuEvent): void
}
