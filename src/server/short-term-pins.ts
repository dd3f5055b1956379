/**
 * Short-term pins (mem.pinPages): FOLL_PIN without FOLL_LONGTERM on a file
 * range, what direct I/O in flight holds. Every policy allows them; the
 * layout guard sees them like any pin. With `ref`, plain page references
 * instead (get_page, FOLL_GET): no pin policy sees them, but a DAX truncate
 * waits for them too (dax_layout_busy_page_range). Held by handle until
 * mem.unpinPages, or until the node that took them goes down.
 */
import { EmuError, ErrorCodes } from '../errors.ts'
import type { ServerMemory } from '../memory/index.ts'

interface ShortPin {
  owner: string
  frames: number[]
  write: boolean
  peer: string
  /** Plain references, not pins. */
  ref: boolean
}

export class ShortTermPins {
  private readonly held = new Map<number, ShortPin>()

  /** `nextId`: the server's id sequence (handles share it with MR pin owners). */
  constructor(private readonly mem: ServerMemory, private readonly nextId: () => number) {}

  /** Pins held now. */
  get size(): number {
    return this.held.size
  }

  /** pin_user_pages() over [offset, offset + length) of `ino`, for `peer` (holes get blocks first). */
  pin(ino: number, offset: number, length: number, write: boolean, peer: string, ref = false): { handle: number; frames: number[] } {
    const { fs, pins } = this.mem
    const frames = fs.mapRange(ino, offset, length, { allocate: true })
    const handle = this.nextId()
    const owner = `${peer}/gup${handle}`
    if (ref) pins.getPages(frames)
    else pins.pinUserPages(frames, { owner, longterm: false, write })
    this.held.set(handle, { owner, frames, write, peer, ref })
    return { handle, frames }
  }

  /** unpin_user_pages_dirty_lock() of one handle's pins. */
  unpin(handle: number): void {
    const p = this.held.get(handle)
    if (!p) throw new EmuError(ErrorCodes.ENOENT, `no short-term pin ${handle}`)
    this.held.delete(handle)
    if (p.ref) this.mem.pins.putPages(p.frames)
    else this.mem.pins.unpinUserPagesDirtyLock(p.frames, p.write, p.owner)
  }

  /** The peer went down: every pin it held drops. */
  dropPeer(peer: string): void {
    for (const [handle, p] of [...this.held]) {
      if (p.peer !== peer) continue
      this.held.delete(handle)
      if (p.ref) this.mem.pins.putPages(p.frames)
      else this.mem.pins.releaseOwner(p.owner)
    }
  }
}
