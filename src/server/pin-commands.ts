/**
 * Pin commands: short-term pins `mem.pinPages` {file, offset, length, write?,
 * ref?} → {handle, frames} (ref: plain page references instead of pins) and `mem.unpinPages` {handle} → {}, and the per-page
 * view `mem.pinCounts` {file, offset?, length?} → {frames, pins, refcounts}.
 */
import type { ServerMemory } from '../memory/index.ts'
import type { ServerControl } from './server-context.ts'
import type { ShortTermPins } from './short-term-pins.ts'

export function attachPinCommands(control: ServerControl, mem: ServerMemory, shortPins: ShortTermPins): void {
  const { fs, pins } = mem
  const ps = mem.phys.pageSize
  control.handle('mem.pinPages', (b, from) => {
    const ino = fs.lookup(b.file)
    return shortPins.pin(ino, b.offset, b.length, b.write === true, from, b.ref === true)
  })
  control.handle('mem.unpinPages', (b) => {
    shortPins.unpin(b.handle)
    return {}
  })
  // Per page of the range: its frame (DAX block or page-cache page, -1 for a
  // hole), its exact pin count and its refcount (pins × GUP_PIN_COUNTING_BIAS + plain references).
  control.handle('mem.pinCounts', (b) => {
    const ino = fs.lookup(b.file)
    const st = fs.stat(ino)
    const offset = b.offset ?? 0
    const length = b.length ?? Math.max(0, st.size - offset)
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
