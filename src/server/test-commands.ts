/**
 * TEST ONLY: `test.freeBehindMr` {file, offset?, length?} → {blocks} frees a
 * file's blocks behind its MRs' backs, bypassing the pins and the layout
 * policy, so the next allocation reuses them (the unsafe case the oracle
 * measures). Never used by the product itself. ODP MRs are still
 * invalidated first: the MMU notifier is the mm's, not a policy.
 */
import { FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, type FileSystem } from '../memory/index.ts'
import type { LayoutGuardSwitch } from './layout-guard-switch.ts'
import type { ServerControl } from './server-context.ts'

export function attachTestCommands(control: ServerControl, fs: FileSystem, guard: LayoutGuardSwitch): void {
  const blocksOf = (ino: number): Set<number> => new Set(fs.extents(ino).flatMap((x) => Array.from({ length: x.len }, (_, i) => x.block + i)))
  control.handle('test.freeBehindMr', async (b) => {
    const ino = fs.lookup(b.file)
    const size = fs.stat(ino).size
    const offset = b.offset ?? 0
    const length = b.length ?? Math.max(0, size - offset)
    const before = blocksOf(ino)
    if (length > 0) await guard.bypass(() => fs.fallocate(ino, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, length))
    const after = blocksOf(ino)
    // In freeing order: the LIFO allocator hands out the last one first.
    return { blocks: [...before].filter((blk) => !after.has(blk)) }
  })
}
