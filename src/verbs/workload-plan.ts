import { seededRandom } from '../../fabric/faults.ts'
import { EmuError, ErrorCodes } from '../errors.ts'
import { Access, WrOpcode } from './constants.ts'
import type { MixOp, WorkloadHistorySpec, WorkloadSpec } from './workload-types.ts'

/**
 * The plan of a checked workload (src/verbs/workload-checked.ts): which
 * operation comes next and where, drawn from a seeded PRNG so the same seed
 * gives the same sequence of operations and addresses.
 *
 * Address choice (all offsets are bytes in the target MR, `mrIova` its base):
 * - write / read: 8-aligned offsets o with base <= o and o + length <= base + span,
 *   base = remoteAddr - mrIova (the registers);
 * - fetchAdd: one 8-byte word of the `atomicSpan` words at `atomicOffset` (the counters);
 * - cmpSwap: one word of the `casSpan` words at `casOffset` (default: the fetchAdd words).
 * - send: no remote address (offset 0); the payload's word k is wordValue(opId, k).
 * The register range and the atomic ranges must not overlap.
 */

export const OpCode = { write: 0, read: 1, fetchAdd: 2, cmpSwap: 3, flush: 4, send: 5 } as const
const MIX_OPS: readonly MixOp[] = ['write', 'read', 'fetchAdd', 'cmpSwap', 'send']

/**
 * The FLUSH placement type for an MR registered with `access`: global
 * visibility and persistence (3) where the MR holds FLUSH_PERSISTENT (only
 * persistent memory may: rxe_mr_fill_pages_from_sgt), else global visibility
 * (1), which is also a checked workload's default.
 */
export function flushPltFor(access: number): number {
  return access & Access.FLUSH_PERSISTENT ? 3 : 1
}

/** Marker of CMP_SWAP swap values (WRITE values carry 0xe5, src/check/history.ts). */
const SWAP_TAG = 0xc5n << 56n

/** The value CMP_SWAP operation `opId` swaps into word `word`: unique per operation, and no WRITE value. */
export function swapValue(opId: number, word: number): bigint {
  return SWAP_TAG | (BigInt(opId) << 24n) | BigInt(word & 0xffffff)
}

const MAX_WORD = 0xffffff
const MAX_OP_ID = 0xffffffff
const U64_MASK = (1n << 64n) - 1n

function bad(field: string, why: string): never {
  throw new EmuError(ErrorCodes.EINVAL, `spec.${field} ${why}`, { field: `spec.${field}` })
}

function opOfOpcode(opcode: number): MixOp {
  switch (opcode) {
    case WrOpcode.RDMA_WRITE: return 'write'
    case WrOpcode.RDMA_READ: return 'read'
    case WrOpcode.ATOMIC_FETCH_AND_ADD: return 'fetchAdd'
    case WrOpcode.ATOMIC_CMP_AND_SWP: return 'cmpSwap'
    default: return bad('opcode', `${opcode} has no checked mode (give spec.mix)`)
  }
}

const isUInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0

/** The validated plan of a checked workload; next() draws the next operation. */
export class CheckedPlan {
  readonly history: WorkloadHistorySpec
  /** Bytes of each WRITE and READ. */
  readonly size: number
  readonly readSize: number
  /** Bytes of each SEND (0 when the mix has none). */
  readonly sendSize: number
  /** Register range (MR offsets) and the number of 8-aligned positions of a write / read in it. */
  readonly base: number
  private readonly writeSlots: number
  private readonly readSlots: number
  readonly atomicWord0: number
  readonly atomicSpan: number
  readonly casWord0: number
  readonly casSpan: number
  readonly addend: bigint
  readonly initial: bigint
  readonly flushEvery: number
  readonly flushPlt: number
  /** The range a FLUSH covers (MR offsets): everything the workload touches. */
  readonly flushOffset: number
  readonly flushLength: number
  readonly drainMs: number
  readonly sampleMs: number
  /** Bytes of the local buffer each outstanding WR uses. */
  readonly slotBytes: number
  private readonly cumulative: number[]
  private readonly codes: number[]
  private readonly rand: () => number
  /** Set by next(): the MR offset of the drawn operation. */
  offset = 0

  constructor(spec: WorkloadSpec) {
    const h = spec.history
    if (!h || typeof h !== 'object') bad('history', 'is required in checked mode')
    for (const f of ['stream', 'mr', 'server', 'client'] as const) if (typeof h[f] !== 'string' || !h[f]) bad(`history.${f}`, 'must be a non-empty string')
    if (!isUInt(h.firstOpId) || h.firstOpId < 1) bad('history.firstOpId', `must be an integer >= 1, got ${h.firstOpId}`)
    if (typeof h.t0EpochMs !== 'number' || !(h.t0EpochMs >= 0)) bad('history.t0EpochMs', `must be an epoch time in ms, got ${h.t0EpochMs}`)
    if (!isUInt(h.mrIova)) bad('history.mrIova', `must be a non-negative integer, got ${h.mrIova}`)
    this.history = h
    const mix = spec.mix ?? [{ op: opOfOpcode(spec.opcode), weight: 1 }]
    if (!Array.isArray(mix) || mix.length === 0) bad('mix', 'must list at least one operation')
    this.cumulative = []
    this.codes = []
    let sum = 0
    const used = new Set<MixOp>()
    mix.forEach((m, k) => {
      if (!MIX_OPS.includes(m?.op)) bad(`mix[${k}].op`, `must be one of ${MIX_OPS.join(', ')}, got ${String(m?.op)}`)
      if (typeof m.weight !== 'number' || !Number.isFinite(m.weight) || m.weight < 0) bad(`mix[${k}].weight`, `must be a number >= 0, got ${m.weight}`)
      if (m.weight === 0) return
      sum += m.weight
      this.cumulative.push(sum)
      this.codes.push(OpCode[m.op])
      used.add(m.op)
    })
    if (!(sum > 0)) bad('mix', 'weights must not all be 0')
    for (let k = 0; k < this.cumulative.length; k++) this.cumulative[k]! /= sum
    this.cumulative[this.cumulative.length - 1] = 1
    if (spec.seed !== undefined && !Number.isInteger(spec.seed)) bad('seed', `must be an integer, got ${spec.seed}`)
    this.rand = seededRandom(spec.seed ?? 1)

    const registers = used.has('write') || used.has('read')
    this.size = spec.size
    this.readSize = spec.readSize ?? spec.size
    this.base = spec.remoteAddr - h.mrIova
    const span = spec.span ?? Math.max(this.size, this.readSize)
    this.writeSlots = 0
    this.readSlots = 0
    if (registers) {
      if (this.base < 0 || this.base % 8) bad('remoteAddr', `must be an 8-aligned address at or after history.mrIova (offset ${this.base})`)
      if (used.has('write') && (!isUInt(this.size) || this.size === 0 || this.size % 8)) bad('size', `must be a positive multiple of 8 in checked mode, got ${this.size}`)
      if (used.has('read') && (!isUInt(this.readSize) || this.readSize === 0 || this.readSize % 8)) bad('readSize', `must be a positive multiple of 8, got ${this.readSize}`)
      if (!isUInt(span)) bad('span', `must be a non-negative integer, got ${span}`)
      if (used.has('write') && span < this.size) bad('span', `(${span}) must be at least size (${this.size})`)
      if (used.has('read') && span < this.readSize) bad('span', `(${span}) must be at least readSize (${this.readSize})`)
      if ((this.base + span) / 8 > MAX_WORD) bad('span', `reaches past word ${MAX_WORD} of the MR (WRITE values hold a 24-bit word index)`)
      this.writeSlots = Math.floor((span - this.size) / 8) + 1
      this.readSlots = Math.floor((span - this.readSize) / 8) + 1
    }
    const range = (offF: string, spanF: string, off: number | undefined, words: number | undefined): [number, number] => {
      if (!isUInt(off) || off % 8) bad(offF, `must be an 8-aligned MR offset, got ${off}`)
      if (!isUInt(words) || words < 1) bad(spanF, `must be a positive number of words, got ${words}`)
      if (off / 8 + words > MAX_WORD) bad(spanF, `reaches past word ${MAX_WORD} of the MR`)
      if (registers && off < this.base + span && this.base < off + words * 8) bad(offF, `: the atomic words [${off}, ${off + words * 8}) overlap the write/read range [${this.base}, ${this.base + span})`)
      return [off / 8, words]
    }
    this.atomicWord0 = 0
    this.atomicSpan = 0
    if (used.has('fetchAdd') || (used.has('cmpSwap') && spec.casOffset === undefined)) {
      ;[this.atomicWord0, this.atomicSpan] = range('atomicOffset', 'atomicSpan', spec.atomicOffset, spec.atomicSpan ?? 1)
    }
    ;[this.casWord0, this.casSpan] = [this.atomicWord0, this.atomicSpan]
    if (used.has('cmpSwap') && spec.casOffset !== undefined) {
      ;[this.casWord0, this.casSpan] = range('casOffset', 'casSpan', spec.casOffset, spec.casSpan ?? spec.atomicSpan ?? 1)
    }
    if (spec.addend !== undefined && typeof spec.addend !== 'bigint') bad('addend', 'must be a bigint')
    if (spec.atomicInitial !== undefined && typeof spec.atomicInitial !== 'bigint') bad('atomicInitial', 'must be a bigint')
    this.addend = (spec.addend ?? 1n) & U64_MASK
    this.initial = (spec.atomicInitial ?? 0n) & U64_MASK

    this.flushEvery = spec.flushEvery ?? 0
    if (!isUInt(this.flushEvery)) bad('flushEvery', `must be a non-negative integer, got ${spec.flushEvery}`)
    this.flushPlt = spec.flushPlt ?? 1
    if (![1, 2, 3].includes(this.flushPlt)) bad('flushPlt', `must be 1 (global), 2 (persistent) or 3 (both), got ${spec.flushPlt}`)
    let lo = Infinity
    let hi = 0
    if (registers) [lo, hi] = [this.base, this.base + span]
    for (const [w0, n] of [[this.atomicWord0, this.atomicSpan], [this.casWord0, this.casSpan]] as const) {
      if (n) [lo, hi] = [Math.min(lo, w0 * 8), Math.max(hi, (w0 + n) * 8)]
    }
    this.flushOffset = lo === Infinity ? 0 : lo
    this.flushLength = hi - this.flushOffset
    this.drainMs = spec.drainMs ?? 10_000
    if (typeof this.drainMs !== 'number' || !(this.drainMs >= 0)) bad('drainMs', `must be >= 0, got ${spec.drainMs}`)
    this.sampleMs = spec.sampleMs ?? 50
    if (typeof this.sampleMs !== 'number' || !(this.sampleMs >= 0)) bad('sampleMs', `must be >= 0 (0: no samples), got ${spec.sampleMs}`)
    this.sendSize = 0
    if (used.has('send')) {
      this.sendSize = spec.sendSize ?? spec.size
      if (!isUInt(this.sendSize) || this.sendSize % 8) bad('sendSize', `must be a multiple of 8, got ${this.sendSize}`)
    }
    this.slotBytes = Math.max(8, used.has('write') ? this.size : 0, used.has('read') ? this.readSize : 0, this.sendSize)
    const total = this.totalWrs(spec.count)
    if (h.firstOpId + total - 1 > MAX_OP_ID) bad('history.firstOpId', `+ ${total} operations pass op id ${MAX_OP_ID} (WRITE values hold a 32-bit op id)`)
  }

  /** WRs a run of `count` operations posts: the operations and the FLUSHes between them. */
  totalWrs(count: number): number {
    return count + (this.flushEvery ? Math.floor(count / this.flushEvery) : 0)
  }

  /** Draw the next operation: returns its OpCode and sets `offset` (its MR offset). */
  next(): number {
    const r = this.rand()
    const cum = this.cumulative
    let k = 0
    while (k < cum.length - 1 && r >= cum[k]!) k++
    const code = this.codes[k]!
    const pos = this.rand()
    switch (code) {
      case OpCode.write: this.offset = this.base + 8 * Math.floor(pos * this.writeSlots); break
      case OpCode.read: this.offset = this.base + 8 * Math.floor(pos * this.readSlots); break
      case OpCode.send: this.offset = 0; break
      case OpCode.fetchAdd: this.offset = 8 * (this.atomicWord0 + Math.floor(pos * this.atomicSpan)); break
      default: this.offset = 8 * (this.casWord0 + Math.floor(pos * this.casSpan))
    }
    return code
  }
}

/** (a + b) mod 2^64, as FETCH_ADD computes it. */
export function add64(a: bigint, b: bigint): bigint {
  return (a + b) & U64_MASK
}
