import { EmuError, ErrorCodes } from '../errors.ts'
import { Access } from '../verbs/constants.ts'

/**
 * The bytes behind a memory region, as the data path sees them. The RC engine
 * only talks to this interface, so anonymous memory, file-backed DAX ranges
 * and ODP regions can sit behind the same requester/responder code.
 *
 * Offsets are relative to the start of the region. Callers have already
 * checked bounds (the STag lookup does), so implementations need not.
 */
export interface RegionMemory {
  readonly length: number
  /**
   * True when every page behind the region is persistent memory (rxe's
   * is_pmem_page: a page of a DAX device), so a pinned registration may ask
   * for IB_ACCESS_FLUSH_PERSISTENT (checkPmemPages). Absent or false: DRAM
   * (anonymous memory, page-cache pages, a user buffer).
   */
  readonly persistent?: boolean
  /** Copy `len` bytes at `off` into `dst` at `dstOff`. */
  copyOut(off: number, dst: Uint8Array, dstOff: number, len: number): void
  /** Copy `src` into the region at `off`. */
  copyIn(off: number, src: Uint8Array): void
  /** A view of [off, off+len) when the bytes are contiguous, else undefined (use copyOut). */
  view(off: number, len: number): Uint8Array | undefined
  /** 64-bit atomics on an 8-byte aligned offset; return the original value (little-endian host word). */
  compareSwap(off: number, compare: bigint, swap: bigint): bigint
  fetchAdd(off: number, add: bigint): bigint
  atomicWrite(off: number, value: bigint): void
  /** Make [off, off+len) persistent (RDMA FLUSH). Anonymous memory has nothing to do. */
  flush(off: number, len: number): void
  /**
   * True when a FLUSH to this memory must fail now (an injected storage
   * fault on the server's device): the responder NAKs it with a remote
   * operational error. Absent: FLUSH never fails.
   */
  flushFails?(): boolean
  /**
   * On-demand paging (src/memory/odp.ts): fault [off, off+len) in and hold off
   * invalidation until unlock(off, len); returns an OdpStatus (0 = OK, and only
   * then is anything held). Absent: the memory is always there.
   */
  mapAndLock?(off: number, len: number): number
  unlock?(off: number, len: number): void
}

/**
 * rxe_mr_fill_pages_from_sgt, as ibv_reg_mr runs it: a registration with
 * IB_ACCESS_FLUSH_PERSISTENT is refused with EINVAL ("Page can't be
 * persistent") unless every page it pins is persistent memory (is_pmem_page). An ODP registration pins no page and is not checked
 * (rxe_odp_mr_init_user), nor is a region with no page at all. ibv_rereg_mr
 * of the access flags is not checked either (rxe_rereg_user_mr only stores
 * them).
 */
export function checkPmemPages(memory: RegionMemory, access: number): void {
  if ((access & Access.FLUSH_PERSISTENT) === 0 || (access & Access.ON_DEMAND) !== 0 || memory.length === 0) return
  if (memory.persistent !== true) {
    throw new EmuError(ErrorCodes.EINVAL, 'IB_ACCESS_FLUSH_PERSISTENT on memory that is not persistent (rxe: page can\'t be persistent): register a range of a DAX file, or ask for FLUSH_GLOBAL only')
  }
}

/**
 * Plain contiguous memory: a user buffer on a client host, or anonymous
 * memory on a server host. Atomics go through a BigInt64Array so they stay
 * atomic when the buffer is a SharedArrayBuffer read by worker threads.
 */
export class ContiguousMemory implements RegionMemory {
  readonly bytes: Uint8Array
  /** False (DRAM) unless the caller says the buffer stands for persistent memory (a devdax or fsdax mapping). */
  readonly persistent: boolean
  private words: BigInt64Array | undefined
  constructor(bytes: Uint8Array, opts: { persistent?: boolean } = {}) {
    this.bytes = bytes
    this.persistent = opts.persistent ?? false
  }
  get length(): number {
    return this.bytes.length
  }
  copyOut(off: number, dst: Uint8Array, dstOff: number, len: number): void {
    dst.set(this.bytes.subarray(off, off + len), dstOff)
  }
  copyIn(off: number, src: Uint8Array): void {
    this.bytes.set(src, off)
  }
  view(off: number, len: number): Uint8Array {
    return this.bytes.subarray(off, off + len)
  }
  /** Index of the word at `off` in a BigInt64Array over the whole buffer, or -1 when unaligned there. */
  private word(off: number): [BigInt64Array, number] {
    this.words ??= new BigInt64Array(this.bytes.buffer, 0, Math.floor(this.bytes.buffer.byteLength / 8))
    const abs = this.bytes.byteOffset + off
    return [this.words, abs % 8 === 0 ? abs / 8 : -1]
  }
  compareSwap(off: number, compare: bigint, swap: bigint): bigint {
    const [w, i] = this.word(off)
    if (i >= 0) return BigInt.asUintN(64, Atomics.compareExchange(w, i, BigInt.asIntN(64, compare), BigInt.asIntN(64, swap)))
    const dv = new DataView(this.bytes.buffer, this.bytes.byteOffset + off, 8)
    const old = dv.getBigUint64(0, true)
    if (old === BigInt.asUintN(64, compare)) dv.setBigUint64(0, BigInt.asUintN(64, swap), true)
    return old
  }
  fetchAdd(off: number, add: bigint): bigint {
    const [w, i] = this.word(off)
    if (i >= 0) return BigInt.asUintN(64, Atomics.add(w, i, BigInt.asIntN(64, add)))
    const dv = new DataView(this.bytes.buffer, this.bytes.byteOffset + off, 8)
    const old = dv.getBigUint64(0, true)
    dv.setBigUint64(0, BigInt.asUintN(64, old + add), true)
    return old
  }
  atomicWrite(off: number, value: bigint): void {
    const [w, i] = this.word(off)
    if (i >= 0) {
      Atomics.store(w, i, BigInt.asIntN(64, value))
      return
    }
    new DataView(this.bytes.buffer, this.bytes.byteOffset + off, 8).setBigUint64(0, BigInt.asUintN(64, value), true)
  }
  flush(): void {}
}
