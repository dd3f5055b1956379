import { randomInt } from 'node:crypto'
import { EmuError, ErrorCodes } from '../errors.ts'
import { Params } from '../params.ts'
import { Access, ACCESS_ALL } from '../verbs/constants.ts'
import type { RegionMemory } from './region-memory.ts'

/**
 * STags (lkey/rkey) and the MR table, as rxe's rxe_mr.c: STag = 24-bit index
 * << 8 | 8-bit key. The key is random, so a stale or guessed rkey does not hit
 * a live region. Lookups check key, PD, access rights, MR state and bounds, in
 * that order, and return a state value (never throw): the engine maps it to a
 * NAK syndrome or a WC status.
 */
export const MrCheck = {
  OK: 0,
  BAD_KEY: 1,
  BAD_PD: 2,
  BAD_ACCESS: 3,
  BAD_STATE: 4,
  OUT_OF_BOUNDS: 5,
} as const
export type MrCheckValue = (typeof MrCheck)[keyof typeof MrCheck]

export const MrState = { INVALID: 0, VALID: 1, FREE: 2 } as const

export interface Mr {
  readonly index: number
  /** lkey == rkey, as in rxe. */
  stag: number
  pd: number
  access: number
  state: number
  /** I/O virtual address of byte 0 (ibv_mr.addr). */
  iova: number
  length: number
  memory: RegionMemory
  /** Free-form owner tag (e.g. the peer that asked for it), for clean-up. */
  owner?: string
  /**
   * Names the memory behind the MR to worker threads (the data-path workers
   * cache regions by it, src/workers/): unique per registration and never
   * reused, and renewed whenever the MR comes to stand for other memory
   * (MrTable.remap: a fast-register MR's REG_MR), so no cache keeps serving
   * the memory it mapped before under the same name.
   */
  serial: number
  /**
   * Shared memory, so worker threads executing already-checked work see a
   * deregistration at once: word LIVE is 1 while the MR is valid, 0 once
   * deregistered; word USERS counts data-path operations copying through it
   * right now (enterMr / leaveMr), which deregistration waits out, as rxe's
   * MR reference count does, before the memory behind it is released.
   */
  live: Int32Array
}

export interface LookupResult {
  status: MrCheckValue
  mr?: Mr
  /** Offset of the looked-up VA inside the region. */
  offset: number
}

const MAX_INDEX = 0xffffff

/**
 * Why an MR is deregistered: an explicit ibv_dereg_mr ('dereg'), or the
 * clean-up of an owner that left the fabric ('owner-gone', as the kernel
 * releasing a dead process's uverbs objects).
 */
export type DeregCause = 'dereg' | 'owner-gone'

/** Told of every deregistration, after the MR is out of the table and no data-path copy uses it. */
export type DeregListener = (mr: Mr, cause: DeregCause) => void

/** Validate ibv_reg_mr access flags as the kernel does (ib_check_mr_access). */
export function checkAccessFlags(access: number): void {
  if (!Number.isInteger(access) || access < 0 || (access & ~ACCESS_ALL) !== 0) {
    throw new EmuError(ErrorCodes.EINVAL, `invalid access flags 0x${access.toString(16)}`)
  }
  // IB spec o10-10: remote write or remote atomic needs local write.
  if ((access & (Access.REMOTE_WRITE | Access.REMOTE_ATOMIC)) !== 0 && (access & Access.LOCAL_WRITE) === 0) {
    throw new EmuError(ErrorCodes.EINVAL, 'REMOTE_WRITE or REMOTE_ATOMIC requires LOCAL_WRITE')
  }
}

export class MrTable {
  private readonly byIndex = new Map<number, Mr>()
  private nextIndex = 1
  private nextIova = 0x10000000
  private nextSerial = 1
  private readonly deregListeners: DeregListener[] = []

  get size(): number {
    return this.byIndex.size
  }

  all(): IterableIterator<Mr> {
    return this.byIndex.values()
  }

  register(pd: number, memory: RegionMemory, access: number, iova?: number, owner?: string): Mr {
    checkAccessFlags(access)
    const index = this.allocIndex()
    const length = memory.length
    let va = iova
    if (va === undefined) {
      va = this.nextIova
      // Page-aligned, with a guard page between regions.
      this.nextIova += Math.ceil(Math.max(length, 1) / Params.mrIovaAlignBytes) * Params.mrIovaAlignBytes + Params.mrIovaAlignBytes
    }
    const live = new Int32Array(new SharedArrayBuffer(8))
    live[MrWord.LIVE] = 1
    const mr: Mr = { index, stag: (index << 8) | randomInt(256), pd, access, state: MrState.VALID, iova: va, length, memory, owner, serial: this.nextSerial++, live }
    // `>>> 0` keeps STags unsigned 32-bit.
    mr.stag >>>= 0
    this.byIndex.set(index, mr)
    return mr
  }

  /**
   * ibv_rereg_mr: change access and/or PD; the STag stays the same (as rxe).
   * The memory stays too (no IBV_REREG_MR_CHANGE_TRANSLATION), and so does the
   * serial: access and PD are checked on the main thread, never by the workers.
   */
  reregister(mr: Mr, change: { access?: number; pd?: number }): void {
    if (this.byIndex.get(mr.index) !== mr) throw new EmuError(ErrorCodes.EINVAL, 'MR is not registered')
    if (change.access !== undefined) {
      checkAccessFlags(change.access)
      mr.access = change.access
    }
    if (change.pd !== undefined) mr.pd = change.pd
  }

  /**
   * The MR now stands for other memory (rxe_reg_fast_mr: a REG_MR over the
   * pages ib_map_mr_sg gave it): memory, IOVA and length change, and the MR
   * takes a new serial, so caches keyed by serial (the data-path workers'
   * region cache) see a new region instead of the memory it mapped before.
   * Work already checked against the old mapping keeps its old serial and
   * memory. Access, PD, STag and state are the caller's to set.
   */
  remap(mr: Mr, to: { memory: RegionMemory; iova: number; length?: number }): void {
    if (this.byIndex.get(mr.index) !== mr) throw new EmuError(ErrorCodes.EINVAL, 'MR is not registered')
    mr.memory = to.memory
    mr.iova = to.iova
    mr.length = to.length ?? to.memory.length
    mr.serial = this.nextSerial++
  }

  /**
   * ibv_dereg_mr. The listeners run last, whoever deregisters (the verbs
   * service, an owner's clean-up, a lease revocation): by then the STag no
   * longer resolves and copies in flight through the MR are over, so what
   * backs it (pins, frames) may be released.
   */
  deregister(mr: Mr, cause: DeregCause = 'dereg'): void {
    if (this.byIndex.get(mr.index) !== mr) throw new EmuError(ErrorCodes.EINVAL, 'MR is not registered')
    mr.state = MrState.FREE
    Atomics.store(mr.live, MrWord.LIVE, 0)
    this.byIndex.delete(mr.index)
    waitUnused(mr.live)
    for (const l of [...this.deregListeners]) l(mr, cause)
  }

  /** Be told of every deregistration (see deregister). Returns an unsubscribe function. */
  onDeregister(listener: DeregListener): () => void {
    this.deregListeners.push(listener)
    return () => {
      const i = this.deregListeners.indexOf(listener)
      if (i >= 0) this.deregListeners.splice(i, 1)
    }
  }

  byStag(stag: number): Mr | undefined {
    const mr = this.byIndex.get(stag >>> 8)
    return mr && mr.stag === stag >>> 0 ? mr : undefined
  }

  /**
   * Check key, PD, access, state and bounds, in that order. `access` is the
   * right needed (0 for a local read). `pd` < 0 skips the PD check.
   */
  lookup(stag: number, pd: number, access: number, va: number, len: number): LookupResult {
    const mr = this.byIndex.get(stag >>> 8)
    if (!mr || mr.stag !== stag >>> 0) return { status: MrCheck.BAD_KEY, offset: 0 }
    if (pd >= 0 && mr.pd !== pd) return { status: MrCheck.BAD_PD, offset: 0 }
    if ((mr.access & access) !== access) return { status: MrCheck.BAD_ACCESS, offset: 0 }
    if (mr.state !== MrState.VALID) return { status: MrCheck.BAD_STATE, offset: 0 }
    const offset = va - mr.iova
    if (!(offset >= 0) || len < 0 || offset + len > mr.length) return { status: MrCheck.OUT_OF_BOUNDS, offset: 0 }
    return { status: MrCheck.OK, mr, offset }
  }

  private allocIndex(): number {
    for (let tries = 0; tries <= MAX_INDEX; tries++) {
      const i = this.nextIndex
      this.nextIndex = this.nextIndex >= MAX_INDEX ? 1 : this.nextIndex + 1
      if (!this.byIndex.has(i)) return i
    }
    throw new EmuError(ErrorCodes.ENOMEM, 'no free MR index')
  }
}

/** Words of Mr.live. */
export const MrWord = { LIVE: 0, USERS: 1 } as const

/**
 * A data-path operation starts using the MR: false (and nothing held) when it
 * is already deregistered. Pair a true with leaveMr().
 */
export function enterMr(live: Int32Array): boolean {
  Atomics.add(live, MrWord.USERS, 1)
  if (Atomics.load(live, MrWord.LIVE) === 1) return true
  leaveMr(live)
  return false
}

export function leaveMr(live: Int32Array): void {
  if (Atomics.sub(live, MrWord.USERS, 1) === 1) Atomics.notify(live, MrWord.USERS)
}

/** Block until no operation uses the MR (bounded). Node allows Atomics.wait on the main thread. */
function waitUnused(live: Int32Array): void {
  const deadline = Date.now() + Params.mrDeregWaitMs
  for (let users = Atomics.load(live, MrWord.USERS); users > 0; users = Atomics.load(live, MrWord.USERS)) {
    const left = deadline - Date.now()
    if (left <= 0) return
    Atomics.wait(live, MrWord.USERS, users, left)
  }
}
