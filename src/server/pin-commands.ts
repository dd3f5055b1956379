/**
 * Pin commands: short-term pins `mem.pinPages` {file, offset, length, write?}
 * → {handle, frames} and `mem.unpinPages` {handle} → {}, and the per-page
 * view `mem.pinCounts` {file, offset?, length?} → {frames, pins, refcounts}.
 */
import type { ServerMemory } from '../memory/index.ts'
import { int, str } from './command-args.ts'
import type { ServerControl } from './server-context.ts'
import type { ShortTermPins } from './short-term-pins.ts'

export function attachPinCommands(control: ServerControl, mem: ServerMemory, shortPins: ShortTermPins): void {
  const { fs, pins } = mem
  const ps = mem.phys.pageSize
  control.handle('mem.pinPages', (b: { file: string; offset: number; length: number; write?: boolean }, from) => {
    const ino = fs.lookup(str(b?.file, 'file'))
    return shortPins.pin(ino, int(b.offset, 'offset'), int(b.length, 'length'), b.write === true, from)
  })
  control.handle('mem.unpinPages', (b: { handle: number }) => {
    shortPins.unpin(int(b?.handle, 'handle'))
    return {}
  })
  // Per page of the range: its frame (DAX block or page-cache page, -1 for a
  // hole), its exact pin count and its refcount (pins × GUP_PIN_COUNTING_BIAS).
  control.handle('mem.pinCounts', (b: { file: string; offset?: number; length?: number }) => {
    const ino = fs.lookup(str(b?.file, 'file'))
    const st = fs.stat(ino)
    const offset = int(b.offset ?? 0, 'offset')
    const length = int(b.length ?? Math.max(0, st.size - offset), 'length')
    const frames: number[] = []
    for (let pi = Math.floor(offset / ps); pi * ps < offset + length; pi++) {
      frames.push(st.dax ? fs.blockOf(ino, pi) : fs.cacheFrameOf(ino, pi))
    }
    return {
      frames,
      pins: frames.map((f) => (f >= 0 ? pins.pinCount(f) : 0)),
      refcounts: frames.map((f) => (f >= 0 ? pins.refcount(f) : 0)),
    }
  })
}
