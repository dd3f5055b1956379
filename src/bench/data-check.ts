/**
 * End-of-run data check of a bench run. The workload's local buffer is a
 * fresh, zero-filled MR inside the client process, so what each test leaves
 * on the server is known in advance:
 * - write: the target (a pattern before the run) holds zeros, the guard after it still the pattern;
 *   after a write_lat ping-pong the last byte holds the count of the last message (perftest's post_buf);
 * - send: the receive buffer likewise, and every receive completed with the full size;
 * - read: the target is unchanged (reads must not disturb it);
 * - atomic FETCH_AND_ADD(1): the word ends at start + operations and the returned
 *   originals are exactly start .. start + operations - 1 (operations = -n, or
 *   what a -D run completed);
 * - atomic CMP_AND_SWAP(0 -> 1) from 0: the word ends at 1 and exactly one returned original is 0.
 * Problems come back as sentences; an empty list means the data is right.
 */
import type { RemoteVerbs } from '../verbs/remote-verbs.ts'
import type { RemoteMr } from '../../fabric/node-message-types.ts'
import type { BenchOptions } from './bench-options.ts'

/** Bytes after each target that no operation may touch. */
export const GUARD_BYTES = 64

/** One QP's server-side target. */
export interface BenchRegion {
  mr: RemoteMr
  /** Bytes the operations target (the guard follows). */
  targetBytes: number
  /** The pattern the whole region held before the run. */
  before: Uint8Array
  /** Initial value of the atomic word. */
  atomicStart: bigint
}

/** Deterministic non-zero-heavy byte pattern. */
export function pattern(len: number, seed: number): Uint8Array {
  const b = new Uint8Array(len)
  let x = (seed * 2654435761) >>> 0
  for (let i = 0; i < len; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0
    b[i] = (x >>> 24) | 1
  }
  return b
}

/** Register and fill the target of QP `k`. */
export async function prepareRegion(server: RemoteVerbs, pd: number, access: number, o: BenchOptions, k: number): Promise<BenchRegion> {
  const targetBytes = o.size
  const mr = await server.regMr(pd, targetBytes + GUARD_BYTES, access)
  const before = pattern(targetBytes + GUARD_BYTES, k + 1)
  let atomicStart = 0n
  if (o.verb === 'atomic') {
    atomicStart = o.atomicType === 'FETCH_AND_ADD' ? 1_000_000n * BigInt(k + 1) : 0n
    new DataView(before.buffer).setBigUint64(0, atomicStart, true)
  }
  await server.write(mr.stag, 0, before)
  return { mr, targetBytes, before, atomicStart }
}

function firstDiff(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i
  return -1
}

/** Check QP `k`'s target after the run, in which it completed `completed` operations (default -n). */
export async function checkRegion(server: RemoteVerbs, region: BenchRegion, o: BenchOptions, k: number, atomicResults?: ReadonlyArray<bigint | number>, completed = o.iters, pingpong = false): Promise<string[]> {
  const problems: string[] = []
  const after = await server.read(region.mr.stag, 0, region.targetBytes + GUARD_BYTES)
  const target = after.subarray(0, region.targetBytes)
  const guardDiff = firstDiff(after.subarray(region.targetBytes), region.before.subarray(region.targetBytes))
  if (guardDiff >= 0) problems.push(`QP ${k}: guard byte ${region.targetBytes + guardDiff} past the ${region.targetBytes}-byte target was overwritten`)
  switch (o.verb) {
    case 'write':
    case 'send': {
      const counted = pingpong && o.verb === 'write' && target.length > 0
      if (counted && target[target.length - 1] !== (completed & 0xff)) problems.push(`QP ${k}: last target byte is ${target[target.length - 1]} after a ${completed}-message ping-pong, expected ${completed & 0xff}`)
      const nonZero = (counted ? target.subarray(0, target.length - 1) : target).findIndex((b) => b !== 0)
      if (nonZero >= 0) problems.push(`QP ${k}: server byte ${nonZero} is 0x${target[nonZero]!.toString(16)} after ${o.verb === 'write' ? 'writing' : 'sending'} zeros`)
      break
    }
    case 'read': {
      const d = firstDiff(target, region.before.subarray(0, region.targetBytes))
      if (d >= 0) problems.push(`QP ${k}: server byte ${d} changed during a read test`)
      break
    }
    case 'atomic': {
      const word = new DataView(after.buffer, after.byteOffset, 8).getBigUint64(0, true)
      const got = (atomicResults ?? []).map((v) => BigInt(v))
      if (got.length !== completed) problems.push(`QP ${k}: ${got.length} atomic results for ${completed} operations`)
      if (o.atomicType === 'FETCH_AND_ADD') {
        const want = region.atomicStart + BigInt(completed)
        if (word !== want) problems.push(`QP ${k}: word is ${word} after ${completed} FETCH_AND_ADD(1) from ${region.atomicStart}, expected ${want}`)
        const sorted = [...got].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
        const bad = sorted.findIndex((v, i) => v !== region.atomicStart + BigInt(i))
        if (bad >= 0) problems.push(`QP ${k}: FETCH_AND_ADD originals are not exactly ${region.atomicStart}..${want - 1n} (first mismatch ${sorted[bad]})`)
      } else {
        if (word !== 1n) problems.push(`QP ${k}: word is ${word} after CMP_AND_SWAP(0 -> 1) from 0, expected 1`)
        const zeros = got.filter((v) => v === 0n).length
        const others = got.filter((v) => v !== 0n && v !== 1n).length
        if (zeros !== 1 || others !== 0) problems.push(`QP ${k}: CMP_AND_SWAP returned ${zeros} zero originals (expected exactly 1) and ${others} values other than 0/1`)
      }
      break
    }
  }
  return problems
}
