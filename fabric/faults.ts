/**
 * Data-plane fault injection, between the transport and the wire: each packet
 * of an outgoing train may be dropped, duplicated or held back and sent after
 * a later one (reordered). Seeded, so a failing run can be replayed.
 */
export interface FaultOptions {
  /** Probability in [0, 1] that a packet is dropped. */
  drop?: number
  /** Probability that a packet is sent twice. */
  duplicate?: number
  /** Probability that a packet is held back and sent after the next one. */
  reorder?: number
  /** PRNG seed. */
  seed?: number
}

export interface FaultCounters {
  seen: number
  dropped: number
  duplicated: number
  reordered: number
}

/** mulberry32: a small, fast, seedable PRNG (good enough for fault dice). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function checkProbability(name: string, v: number | undefined): number {
  if (v === undefined) return 0
  if (typeof v !== 'number' || !(v >= 0 && v <= 1)) throw new RangeError(`${name} must be a probability in [0, 1], got ${v}`)
  return v
}

export class FaultInjector {
  readonly counters: FaultCounters = { seen: 0, dropped: 0, duplicated: 0, reordered: 0 }
  private readonly drop: number
  private readonly duplicate: number
  private readonly reorder: number
  private readonly rand: () => number
  /** A packet held back per destination, released behind the next one. */
  private readonly held = new Map<string, unknown>()

  constructor(opts: FaultOptions) {
    this.drop = checkProbability('drop', opts.drop)
    this.duplicate = checkProbability('duplicate', opts.duplicate)
    this.reorder = checkProbability('reorder', opts.reorder)
    this.rand = seededRandom(opts.seed ?? 1)
  }

  /** The train to actually send to `dest` in place of `packets` (encoded packets or packets to encode). */
  apply<T>(dest: string, packets: T[]): T[] {
    const out: T[] = []
    for (const p of packets) {
      this.counters.seen++
      if (this.rand() < this.drop) {
        this.counters.dropped++
        continue
      }
      const held = this.held.get(dest) as T | undefined
      if (held === undefined && this.rand() < this.reorder) {
        this.counters.reordered++
        this.held.set(dest, p)
        continue
      }
      out.push(p)
      if (this.rand() < this.duplicate) {
        this.counters.duplicated++
        out.push(p)
      }
      if (held !== undefined) {
        this.held.delete(dest)
        out.push(held)
      }
    }
    return out
  }

  /** Packets still held back (sent by the caller when nothing else comes). */
  release<T>(dest: string): T[] {
    const held = this.held.get(dest) as T | undefined
    if (held === undefined) return []
    this.held.delete(dest)
    return [held]
  }
}
