/**
 * Fast-register memory regions (rxe_mr.c rxe_mr_init_fast, rxe_map_mr_sg,
 * rxe_reg_fast_mr, rxe_invalidate_mr; the kernel's ib_alloc_mr,
 * ib_map_mr_sg and IB_WR_REG_MR). allocMr makes an MR with room for
 * `maxPages` pages and no valid mapping (state FREE); mapMrSg gives it the
 * memory and IOVA the next REG_MR work request makes valid, with the access
 * and the new key byte that request carries. LOCAL_INV, or a peer's
 * SEND_WITH_INV, returns it to FREE: its rkey then refuses access.
 */
import { EmuError, ErrorCodes } from '../errors.ts'
import { Params } from '../params.ts'
import { ContiguousMemory, type RegionMemory } from '../memory/region-memory.ts'
import { checkAccessFlags, MrState, type Mr, type MrTable } from '../memory/stag.ts'
import type { MwTable } from './mw.ts'

/** Page size of fast-register page lists (the emulator's PAGE_SIZE). */
export const FAST_REG_PAGE = 4096

interface FastReg {
  maxPages: number
  /** Set by mapMrSg, made valid by the next REG_MR. */
  pending?: { memory: RegionMemory; iova: number }
}

const fastRegs = new WeakMap<Mr, FastReg>()

/** True for an MR made by allocMr (IB_MR_TYPE_MEM_REG). */
export function isFastReg(mr: Mr): boolean {
  return fastRegs.has(mr)
}

/** ib_alloc_mr(pd, IB_MR_TYPE_MEM_REG, max_num_sg): a FREE MR whose rkey resolves to nothing yet. */
export function allocMr(mrs: MrTable, pd: number, maxPages: number, owner?: string): Mr {
  if (!Number.isInteger(maxPages) || maxPages < 1 || maxPages * FAST_REG_PAGE > Params.maxMessageSize) {
    throw new EmuError(ErrorCodes.EINVAL, `maxPages must be 1-${Params.maxMessageSize / FAST_REG_PAGE}, got ${maxPages}`)
  }
  const mr = mrs.register(pd, new ContiguousMemory(new Uint8Array(0)), 0, 0, owner)
  mr.state = MrState.FREE
  fastRegs.set(mr, { maxPages })
  return mr
}

/**
 * ib_map_mr_sg: the memory (a buffer or region) the MR maps once the next
 * REG_MR makes it valid, at `iova`. EINVAL when the pages it spans exceed
 * the MR's maxPages, or for an MR not made by allocMr.
 */
export function mapMrSg(mr: Mr, memory: RegionMemory | Uint8Array, iova: number): number {
  const f = fastRegs.get(mr)
  if (!f) throw new EmuError(ErrorCodes.EINVAL, 'map_mr_sg on an MR not allocated with allocMr')
  const mem = memory instanceof Uint8Array ? new ContiguousMemory(memory) : memory
  if (!Number.isInteger(iova) || iova < 0) throw new EmuError(ErrorCodes.EINVAL, `bad iova ${iova}`)
  const pages = Math.ceil(((iova % FAST_REG_PAGE) + mem.length) / FAST_REG_PAGE)
  if (pages > f.maxPages) throw new EmuError(ErrorCodes.EINVAL, `${mem.length} bytes at 0x${iova.toString(16)} span ${pages} pages, the MR holds ${f.maxPages}`)
  f.pending = { memory: mem, iova }
  return pages
}

/**
 * IB_WR_REG_MR executed by the requester of a QP in `pd` (rxe_reg_fast_mr).
 * Returns why it failed (the WR completes with LOC_QP_OP_ERR), or undefined.
 */
export function regFastMr(mrs: MrTable, pd: number, mr: Mr, key: number, access: number): string | undefined {
  const f = fastRegs.get(mr)
  if (!f || mrs.byStag(mr.stag) !== mr) return 'not a fast-register MR'
  if (mr.state !== MrState.FREE) return 'MR is not free (invalidate it first)'
  if (mr.pd !== pd) return "MR's PD differs from the QP's"
  if ((key >>> 8) !== (mr.stag >>> 8)) return 'only the key byte of the lkey/rkey may change'
  try {
    checkAccessFlags(access)
  } catch (err) {
    return (err as Error).message
  }
  if (!f.pending) return 'no pages mapped (map_mr_sg)'
  // New memory, new serial: the worker data path must not reuse the region it cached for the old mapping.
  mrs.remap(mr, { memory: f.pending.memory, iova: f.pending.iova })
  mr.access = access
  mr.stag = key >>> 0
  mr.state = MrState.VALID
  return undefined
}

/**
 * Invalidate a fast-register MR by its key (rxe_invalidate_mr): LOCAL_INV,
 * or a SEND_WITH_INV from the peer. Refused for a key that does not match,
 * an ordinary MR, or one with windows bound over it.
 */
export function invalidateMr(mrs: MrTable, mws: MwTable | undefined, key: number): string | undefined {
  const mr = mrs.byStag(key)
  if (!mr) return 'no MR with that key'
  if (!fastRegs.has(mr)) return 'only fast-register MRs can be invalidated'
  if (mws && mws.boundOver(mr) > 0) return 'memory windows are bound over the MR'
  mr.state = MrState.FREE
  return undefined
}
