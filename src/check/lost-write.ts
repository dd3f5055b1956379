/**
 * Checker (a): no acknowledged write is lost.
 *
 * For every 8-byte word that WRITEs covered, the final value decodes to the
 * WRITE x that wrote it last (or to the initial value, or to neither). The
 * word is wrong when an acknowledged, durable WRITE y to that word was posted
 * after x had certainly finished (y strictly follows x in real time): y is
 * gone. Either y was lost, or x was applied again after y (a duplicated,
 * replayed write); when a READ saw a value that followed x, x's value came
 * back after it was overwritten, so the anomaly is named a duplicated write.
 * The initial value with a durable acknowledged write is a lost write. A
 * value that is another word's, another MR's, or no WRITE's at all is a
 * misplaced or corrupt write. WRITEs with an error or PENDING status are
 * indeterminate: they may or may not have taken effect, so any of them may be
 * the final value and none is required.
 *
 * Across a restart of the MR's server (History.restarts) only what was
 * persisted survives: see `Durability`. Acknowledged writes not covered by a
 * FLUSH before the restart are unflushed: counted and listed as notes
 * ('unflushed'), not violations; `counts.unflushedLostWords` counts the words
 * where one of them is gone.
 *
 * Words touched by atomics too (checked by the atomics checker) or only
 * partly by a WRITE (the value is a mix) are skipped and counted. Words no
 * WRITE touched are scanned for WRITE values (a write that landed at the wrong
 * place); other values there are not judged.
 */

import { wordValue, type FinalMemory, type History, type HistoryOp } from './history.ts'
import { AnomalyList, makeResult, num, type CheckResult } from './result.ts'
import { acked, finalWord, finishedUs, indexWords, meaning, mrKey, type WordIndex } from './word-index.ts'

/** Check the final memory against the acknowledged writes of the history. */
export function checkLostWrites(history: History, memory: FinalMemory[], index: WordIndex = indexWords(history)): CheckResult {
  const anomalies = new AnomalyList()
  const notes = new AnomalyList()
  const durability = index.durability
  const noted = new Set<number>()
  const counts = { words: 0, writes: 0, partial: 0, mixed: 0, unchecked: 0, pastEnd: 0, unflushed: 0, unflushedLostWords: 0 }
  const writeIds = new Set<number>()
  const checked = new Set<string>()

  for (const mem of memory) {
    const key = mrKey(mem.server, mem.mr)
    checked.add(key)
    const m = index.mrs.get(key)
    const words = m?.words ?? new Map()
    for (const wo of words.values()) {
      if (wo.writes.length === 0 && !wo.partial) continue
      if (wo.partial) { counts.partial++; continue }
      if (wo.atomics.length > 0) { counts.mixed++; continue }
      const w = wo.word
      const f = finalWord(mem, w)
      if (f === undefined) { counts.pastEnd++; continue }
      counts.words++
      const initial = mem.initial(w)

      // The latest-posted durable acknowledged write, and unflushed ones.
      let req: HistoryOp | undefined
      let unflushedLatest: HistoryOp | undefined
      const required: HistoryOp[] = []
      for (const y of wo.writes) {
        writeIds.add(y.id)
        if (!acked(y)) continue
        if (durability.durableUntil(y) === Infinity) {
          required.push(y)
          if (!req || y.postedUs > req.postedUs) req = y
        } else {
          if (!unflushedLatest || y.postedUs > unflushedLatest.postedUs) unflushedLatest = y
          if (!noted.has(y.id)) {
            noted.add(y.id)
            counts.unflushed++
            const r = durability.restartAt(y.server, durability.epoch(y.server, y.postedUs))
            const fl = durability.flushBoundary(y.server, y.mr, r)
            notes.add({
              kind: 'unflushed',
              message: `write ${y.id} to ${y.mr}@${y.server} was acknowledged at ${y.completedUs} µs, after the last FLUSH before the restart of ${y.server} at ${r} µs (${fl ? `FLUSH boundary ${fl.boundary} µs` : 'no FLUSH'}): lost with the restart`,
              ops: [y], mr: y.mr,
            })
          }
        }
      }

      const mean = meaning(index, mem.server, mem.mr, w, f, initial)
      const values: Record<string, bigint> = { final: f, initial }
      if (mean.kind === 'write' || mean.kind === 'initial') {
        const x = mean.kind === 'write' ? mean.op : undefined
        const xDone = x ? finishedUs(x) : -Infinity
        if (unflushedLatest && unflushedLatest.postedUs > xDone) counts.unflushedLostWords++
        if (!req || req.postedUs <= xDone) continue
        values.lost = wordValue(req.id, w)
        const holds = x ? `the value of write ${x.id} (completed ${x.completedUs} µs)` : 'the initial value'
        // Did a READ see a value that followed x? Then x came back: a duplicate.
        const later = x ? laterObserved(index, mem, wo.reads, xDone, x) : undefined
        if (x && later) {
          anomalies.add({
            kind: 'duplicated-write', word: w, mr: mem.mr, values,
            message: `word ${w} of ${mem.mr}@${mem.server} ends with ${holds}, but read ${later.read.id} saw write ${later.write.id}'s value, posted after write ${x.id} completed: write ${x.id} was replayed, and acknowledged write ${req.id} (posted ${req.postedUs} µs) is gone`,
            ops: [x, later.write, later.read, req],
          })
        } else {
          const lost = required.filter((y) => y.postedUs > xDone)
          anomalies.add({
            kind: 'lost-write', word: w, mr: mem.mr, values,
            message: `word ${w} of ${mem.mr}@${mem.server} ends with ${holds}, but ${num(lost.length)} acknowledged write(s) posted after it (latest ${req.id}, posted ${req.postedUs} µs) are gone: lost${x ? ` (or write ${x.id} was replayed: a duplicate)` : ''}`,
            ops: x ? [x, ...lost] : lost,
          })
        }
      } else if (mean.kind === 'misplaced') {
        anomalies.add({
          kind: 'misplaced-write', word: w, mr: mem.mr, values,
          message: `word ${w} of ${mem.mr}@${mem.server} holds the value write ${mean.op.id} wrote for word ${mean.word} of ${mean.op.mr}@${mean.op.server}`,
          ops: [mean.op, ...(req ? [req] : [])],
        })
      } else {
        anomalies.add({
          kind: 'corrupt-write', word: w, mr: mem.mr, values,
          message: `word ${w} of ${mem.mr}@${mem.server} holds a value that is neither the initial value nor any write's value for it`,
          ops: req ? [req] : [],
        })
      }
    }
    scanUntouched(index, mem, words, anomalies)
  }
  for (const [key, m] of index.mrs) {
    if (checked.has(key)) continue
    for (const wo of m.words.values()) if (wo.writes.length > 0) counts.unchecked++
  }

  const extra = [
    counts.unflushed ? `${num(counts.unflushed)} unflushed writes (${num(counts.unflushedLostWords)} words lost with a restart)` : '',
    counts.partial + counts.mixed ? `${num(counts.partial + counts.mixed)} skipped` : '',
    counts.unchecked ? `${num(counts.unchecked)} without final memory` : '',
  ].filter(Boolean)
  return makeResult('lost-write', `${num(counts.words)} words${extra.length ? ` (${extra.join('; ')})` : ''}`, anomalies, { ...counts, writes: writeIds.size }, notes)
}

/** A READ of the word that saw the value of a write posted after `after`, other than `x`. */
function laterObserved(
  index: WordIndex,
  mem: FinalMemory,
  reads: Array<{ op: HistoryOp; i: number }>,
  after: number,
  x: HistoryOp,
): { read: HistoryOp; write: HistoryOp } | undefined {
  for (const { op, i } of reads) {
    const v = op.words?.[i]
    if (v === undefined) continue
    const w = op.offset / 8 + i
    const mean = meaning(index, mem.server, mem.mr, w, v, undefined)
    if (mean.kind === 'write' && mean.op !== x && mean.op.postedUs > after) return { read: op, write: mean.op }
  }
  return undefined
}

/** Words no WRITE or atomic touched: a WRITE value there was misplaced. */
function scanUntouched(index: WordIndex, mem: FinalMemory, touched: Map<number, { writes: HistoryOp[]; atomics: HistoryOp[] }>, anomalies: AnomalyList): void {
  const b = mem.bytes
  const n = Math.floor(b.length / 8)
  for (let w = 0; w < n; w++) {
    if (b[w * 8 + 7] !== 0xe5) continue // the WRITE tag's top byte
    const t = touched.get(w)
    if (t && (t.writes.length > 0 || t.atomics.length > 0)) continue
    const f = finalWord(mem, w)
    if (f === undefined) continue
    const initial = mem.initial(w)
    if (f === initial) continue
    const mean = meaning(index, mem.server, mem.mr, w, f, initial)
    if (mean.kind !== 'misplaced') continue
    const at = `word ${mean.word} of ${mean.op.mr}@${mean.op.server}`
    anomalies.add({
      kind: 'misplaced-write', word: w, mr: mem.mr, values: { final: f, initial },
      message: `word ${w} of ${mem.mr}@${mem.server}, which no write covered, holds the value write ${mean.op.id} wrote for ${at}`,
      ops: [mean.op],
    })
  }
}
