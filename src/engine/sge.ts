import { MrState } from '../memory/stag.ts'
import type { LocalSeg } from './wqe.ts'

/**
 * Scatter/gather over a WQE's resolved local segments (rxe's copy_data): the
 * requester gathers request payloads, the completer scatters READ and atomic
 * results, the responder scatters SEND payloads into the receive WQE.
 */

/** Gather `len` bytes at message offset `off` from local segments. */
export function gather(segs: LocalSeg[], off: number, len: number): Uint8Array {
  // Fast path: one segment covers it, return a view (the codec copies it once into the packet).
  let pos = 0
  for (const s of segs) {
    if (off >= pos && off + len <= pos + s.len) {
      const v = s.mr.memory.view(s.off + off - pos, len)
      if (v) return v
      break
    }
    pos += s.len
  }
  const out = new Uint8Array(len)
  scatterEach(segs, off, len, (mr, o, at, n) => mr.memory.copyOut(o, out, at, n))
  return out
}

/** Scatter `data` into local segments at message offset `off`. */
export function scatter(segs: LocalSeg[], off: number, data: Uint8Array): void {
  scatterEach(segs, off, data.length, (mr, o, at, n) => mr.memory.copyIn(o, data.subarray(at, at + n)))
}

/** Walk the pieces of message bytes [off, off+len) over local segments: fn(region, offset in it, offset in the message piece, bytes). */
export function scatterEach(segs: LocalSeg[], off: number, len: number, fn: (mr: LocalSeg['mr'], off: number, at: number, n: number) => void): void {
  let pos = 0
  let done = 0
  for (const s of segs) {
    if (done >= len) break
    const segEnd = pos + s.len
    const start = off + done
    if (start < segEnd) {
      const inSeg = start - pos
      const n = Math.min(s.len - inSeg, len - done)
      fn(s.mr, s.off + inSeg, done, n)
      done += n
    }
    pos = segEnd
  }
}

/**
 * Whether the segments under message bytes [off, off+len) may still be
 * written by `pd` with `access` (rxe's copy_data: lookup_mr by lkey, PD,
 * access and state, then mr_check_range, for every SGE a packet reaches).
 * A WQE resolves its SGEs when it is posted; the MR behind one may have been
 * deregistered, or re-registered to another PD or with other rights, since.
 * The STag stays with its region across a re-registration, so the region
 * object itself is what is checked.
 */
export function segsUsable(segs: LocalSeg[], off: number, len: number, pd: number, access: number): boolean {
  let ok = true
  scatterEach(segs, off, len, (mr, o, _at, n) => {
    if (mr.state !== MrState.VALID || mr.pd !== pd || (mr.access & access) !== access || o < 0 || o + n > mr.length) ok = false
  })
  return ok
}
