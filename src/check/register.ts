/**
 * Checker (b): reads are linearizable per 8-byte word (Jepsen's register
 * check, one register per word, judged on real-time order only).
 *
 * Each word a successful READ returned must be:
 * - the initial value or a value some WRITE wrote to that word (else
 *   `garbage-read`: another word's or MR's value, or no WRITE's);
 * - not from a WRITE posted after the READ completed (`future-read`);
 * - not already overwritten before the READ was posted (`stale-read`): the
 *   value of WRITE x is stale when an acknowledged WRITE y to the word was
 *   posted after x certainly finished and completed before the READ was
 *   posted; the initial value is stale once any acknowledged WRITE to the
 *   word completed before the READ was posted.
 * WRITEs with an error or PENDING status never finish for this purpose (they
 * may take effect any time after they were posted) and never overwrite.
 * Across a restart of the server, an unflushed acknowledged WRITE (see
 * `Durability`) overwrites only for READs before that restart.
 *
 * Words touched by atomics, or only partly by a WRITE, are skipped and
 * counted; so are READs not aligned on a word.
 */

import { wordValue, type FinalMemory, type History, type HistoryOp } from './history.ts'
import { AnomalyList, makeResult, num, type CheckResult } from './result.ts'
import { acked, finishedUs, indexWords, lowerBound, meaning, mrKey, type WordIndex } from './word-index.ts'

/** What the register checker needs of an MR: its initial values. */
export type InitialValues = Pick<FinalMemory, 'mr' | 'server' | 'initial'>

/**
 * Acknowledged writes of a word by completion time, with the running maximum
 * of their posting times: "the latest-posted write completed before t".
 */
class Overwrites {
  private readonly completed: number[] = []
  private readonly maxOp: HistoryOp[] = []

  constructor(writes: HistoryOp[]) {
    const s = writes.slice().sort((a, b) => (a.completedUs ?? Infinity) - (b.completedUs ?? Infinity))
    let best: HistoryOp | undefined
    for (const y of s) {
      if (!best || y.postedUs > best.postedUs) best = y
      this.completed.push(y.completedUs ?? Infinity)
      this.maxOp.push(best)
    }
  }

  /** The latest-posted write that completed strictly before t. */
  latestBefore(t: number): HistoryOp | undefined {
    const i = lowerBound(this.completed, t)
    return i > 0 ? this.maxOp[i - 1] : undefined
  }
}

/** Whether reading WRITE x's value is fine: not from the future, not overwritten by y. */
function x0ok(x: HistoryOp, readDone: number, y: HistoryOp | undefined): boolean {
  return x.postedUs <= readDone && !(y && y.postedUs > finishedUs(x))
}

/** Check every successful READ's words against the WRITEs of the history. */
export function checkRegisters(history: History, memory: InitialValues[], index: WordIndex = indexWords(history)): CheckResult {
  const anomalies = new AnomalyList()
  const durability = index.durability
  const initials = new Map(memory.map((m) => [mrKey(m.server, m.mr), m.initial]))
  const counts = { reads: index.readOps, readWords: 0, skippedWords: 0, unalignedReads: index.unalignedReads }

  for (const [key, m] of index.mrs) {
    const initialOf = initials.get(key) ?? (() => 0n)
    for (const wo of m.words.values()) {
      if (wo.reads.length === 0) continue
      if (wo.partial || wo.atomics.length > 0) { counts.skippedWords += wo.reads.length; continue }
      const w = wo.word
      const initial = initialOf(w)
      const durable: HistoryOp[] = []
      const byEpoch = new Map<number, HistoryOp[]>()
      for (const y of wo.writes) {
        if (!acked(y)) continue
        if (durability.durableUntil(y) === Infinity) durable.push(y)
        else {
          const e = durability.epoch(y.server, y.postedUs)
          const l = byEpoch.get(e) ?? []
          l.push(y)
          byEpoch.set(e, l)
        }
      }
      const durableIdx = new Overwrites(durable)
      const epochIdx = new Map([...byEpoch].map(([e, l]) => [e, new Overwrites(l)]))

      for (const { op: r, i } of wo.reads) {
        const v = r.words?.[i]
        if (v === undefined) continue
        counts.readWords++
        const done = r.completedUs ?? r.postedUs
        // The latest-posted acknowledged write that had completed (and still held) before the read.
        let y = durableIdx.latestBefore(r.postedUs)
        if (epochIdx.size > 0) {
          const e = durability.epoch(m.server, r.postedUs)
          if (durability.restartAt(m.server, e) > done) {
            const z = epochIdx.get(e)?.latestBefore(r.postedUs)
            if (z && (!y || z.postedUs > y.postedUs)) y = z
          }
        }
        const mean = meaning(index, m.server, m.mr, w, v, initial)
        if (mean.kind === 'write' && x0ok(mean.op, done, y)) continue
        if (mean.kind === 'initial' && !y) continue
        const where = `word ${w} of ${m.mr}@${m.server}`
        const readAt = `read ${r.id} (posted ${r.postedUs} µs, completed ${done} µs)`
        const values: Record<string, bigint> = { read: v, initial }
        if (mean.kind === 'write') {
          const x = mean.op
          if (x.postedUs > done) {
            anomalies.add({
              kind: 'future-read', word: w, mr: m.mr, values,
              message: `${readAt} returned for ${where} the value of write ${x.id}, posted ${x.postedUs} µs, after the read completed`,
              ops: [r, x],
            })
          } else if (y && y.postedUs > finishedUs(x)) {
            values.current = wordValue(y.id, w)
            anomalies.add({
              kind: 'stale-read', word: w, mr: m.mr, values,
              message: `${readAt} returned for ${where} the value of write ${x.id} (completed ${x.completedUs} µs), already overwritten by acknowledged write ${y.id} (posted ${y.postedUs} µs, completed ${y.completedUs} µs)`,
              ops: [r, x, y],
            })
          }
        } else if (mean.kind === 'initial') {
          if (y) {
            values.current = wordValue(y.id, w)
            anomalies.add({
              kind: 'stale-read', word: w, mr: m.mr, values,
              message: `${readAt} returned the initial value of ${where}, already overwritten by acknowledged write ${y.id} (completed ${y.completedUs} µs)`,
              ops: [r, y],
            })
          }
        } else if (mean.kind === 'misplaced') {
          anomalies.add({
            kind: 'garbage-read', word: w, mr: m.mr, values,
            message: `${readAt} returned for ${where} the value write ${mean.op.id} wrote for word ${mean.word} of ${mean.op.mr}@${mean.op.server}`,
            ops: [r, mean.op],
          })
        } else {
          anomalies.add({
            kind: 'garbage-read', word: w, mr: m.mr, values,
            message: `${readAt} returned for ${where} a value that is neither the initial value nor any write's value for it`,
            ops: [r],
          })
        }
      }
    }
  }
  const skipped = counts.skippedWords ? ` (${num(counts.skippedWords)} word reads skipped: atomics or partial writes)` : ''
  return makeResult('register', `${num(counts.reads)} reads, ${num(counts.readWords)} words${skipped}`, anomalies, counts)
}
