/**
 * Checker (c): atomics add up, on each 8-byte word that only atomics touched.
 *
 * FETCH_ADD (a word with no CMP_SWAP):
 * - `wrong-total`: the final value is initial + the addends of the successful
 *   FETCH_ADDs (mod 2^64), plus any subset of the indeterminate ones (error or
 *   PENDING: they may have been applied). With indeterminate ones the set of
 *   achievable totals is enumerated when small (<= 100,000), else bounded.
 * - `duplicate-result`: two successful FETCH_ADDs with non-zero addends
 *   returned the same original value (a lost update, or one applied twice).
 * - `impossible-result`: with positive addends and no wrap, the results
 *   sorted are initial + the partial sums of the adds before them (gaps only
 *   where indeterminate adds can fill them), and an add that completed before
 *   another was posted returned the smaller value (real-time order).
 *
 * CMP_SWAP (a word with no FETCH_ADD):
 * - `impossible-result`: a result that is neither the initial value nor a
 *   value some swapping (result == compare) or indeterminate CMP_SWAP stored,
 *   or only stored by operations posted after this one completed; with unique
 *   swap values, also a value a successful swap had already replaced before
 *   this one was posted (stale).
 * - `duplicate-result` (unique swap values): two successful swaps replaced the
 *   same value.
 * - `wrong-final`: the final value is no stored value (nor the initial one);
 *   with unique swap values, it had been replaced by a successful swap, or a
 *   successful swap's value neither ends the word nor was replaced.
 *
 * Words also written by WRITEs, or with both kinds of atomics, are skipped and
 * counted (`mixed`); so are the atomic words of a server that restarted
 * (`restarted`: unflushed atomics may be gone, so neither totals nor results
 * need add up).
 */

import type { FinalMemory, History, HistoryOp } from './history.ts'
import { AnomalyList, makeResult, num, type CheckResult } from './result.ts'
import { acked, finalWord, indexWords, mrKey, type WordIndex } from './word-index.ts'

const M = 1n << 64n
const HALF = 1n << 63n
const mod = (x: bigint): bigint => BigInt.asUintN(64, x)
/** Achievable indeterminate subsets enumerated up to this many sums. */
const ENUMERATE_LIMIT = 100_000

/** Check FETCH_ADD and CMP_SWAP results and final values. */
export function checkAtomics(history: History, memory: FinalMemory[], index: WordIndex = indexWords(history)): CheckResult {
  const anomalies = new AnomalyList()
  const mems = new Map(memory.map((m) => [mrKey(m.server, m.mr), m]))
  const counts = { words: 0, fetchAdds: 0, cmpSwaps: 0, indeterminate: 0, mixed: 0, restarted: 0, noFinal: 0, undecided: 0 }
  for (const [key, m] of index.mrs) {
    const mem = mems.get(key)
    for (const wo of m.words.values()) {
      if (wo.atomics.length === 0) continue
      const fas = wo.atomics.filter((o) => o.op === 'fetchAdd')
      const css = wo.atomics.filter((o) => o.op === 'cmpSwap')
      if (wo.writes.length > 0 || wo.partial || (fas.length > 0 && css.length > 0)) { counts.mixed++; continue }
      // A restart may take unflushed atomics back: totals and results no longer add up.
      if (index.durability.restarted(m.server)) { counts.restarted++; continue }
      counts.words++
      counts.fetchAdds += fas.length
      counts.cmpSwaps += css.length
      counts.indeterminate += wo.atomics.filter((o) => !acked(o)).length
      const initial = mem ? mem.initial(wo.word) : 0n
      const final = mem ? finalWord(mem, wo.word) : undefined
      if (final === undefined) counts.noFinal++
      const at = { word: wo.word, mr: m.mr, where: `word ${wo.word} of ${m.mr}@${m.server}` }
      if (fas.length > 0) {
        if (!fetchAdds(fas, initial, final, at, anomalies)) counts.undecided++
      } else cmpSwaps(css, initial, final, at, anomalies)
    }
  }
  const extra = [
    counts.indeterminate ? `${num(counts.indeterminate)} indeterminate` : '',
    counts.mixed ? `${num(counts.mixed)} mixed words skipped` : '',
    counts.restarted ? `${num(counts.restarted)} words on restarted servers skipped` : '',
  ].filter(Boolean)
  const what = `${num(counts.words)} words, ${num(counts.fetchAdds)} FETCH_ADD, ${num(counts.cmpSwaps)} CMP_SWAP${extra.length ? ` (${extra.join(', ')})` : ''}`
  return makeResult('atomics', what, anomalies, counts)
}

interface At { word: number; mr: string; where: string }

/** The sums a subset of the indeterminate addends can make (mod 2^64), or undefined when too many. */
function achievable(adds: bigint[]): Set<bigint> | undefined {
  const groups = new Map<bigint, number>()
  for (const a of adds) groups.set(a, (groups.get(a) ?? 0) + 1)
  let size = 1
  for (const c of groups.values()) {
    size *= c + 1
    if (size > ENUMERATE_LIMIT) return undefined
  }
  let sums = new Set<bigint>([0n])
  for (const [a, c] of groups) {
    const next = new Set<bigint>()
    for (const s of sums) for (let k = 0; k <= c; k++) next.add(mod(s + BigInt(k) * a))
    sums = next
  }
  return sums
}

/** FETCH_ADD checks on one word; false when the total could not be decided. */
function fetchAdds(ops: HistoryOp[], initial: bigint, final: bigint | undefined, at: At, anomalies: AnomalyList): boolean {
  const ok = ops.filter((o) => acked(o) && o.result !== undefined)
  const unknown = ops.filter((o) => !acked(o))
  const addOf = (o: HistoryOp) => mod(o.value ?? 0n)
  const sumOk = ok.reduce((s, o) => s + addOf(o), 0n)
  const sumUnknown = unknown.reduce((s, o) => s + addOf(o), 0n)
  let decided = true

  if (final !== undefined) {
    const d = mod(final - initial - sumOk)
    let good: boolean
    if (unknown.length === 0) good = d === 0n
    else {
      const sums = achievable(unknown.map(addOf))
      if (sums) good = sums.has(d)
      else if (unknown.every((o) => addOf(o) > 0n && addOf(o) < HALF) && sumUnknown < M) good = d <= sumUnknown
      else { good = true; decided = false }
    }
    if (!good) {
      anomalies.add({
        kind: 'wrong-total', word: at.word, mr: at.mr,
        values: { final, initial, expected: mod(initial + sumOk), addends: sumOk },
        message: `${at.where} ends at ${hex(final)}, but initial ${hex(initial)} + ${num(ok.length)} successful FETCH_ADDs = ${hex(mod(initial + sumOk))}` +
          (unknown.length ? ` and no subset of the ${num(unknown.length)} indeterminate ones (sum ${hex(sumUnknown)}) makes up the difference ${hex(d)}` : ''),
        ops: [...unknown, ...ok.slice(-5)],
      })
    }
  }

  // Equal results: at most one add with a non-zero addend can return a given value.
  const byResult = new Map<bigint, HistoryOp[]>()
  for (const o of ok) {
    const l = byResult.get(o.result as bigint) ?? []
    l.push(o)
    byResult.set(o.result as bigint, l)
  }
  for (const [r, l] of byResult) {
    const nonZero = l.filter((o) => addOf(o) !== 0n)
    if (nonZero.length > 1) {
      anomalies.add({
        kind: 'duplicate-result', word: at.word, mr: at.mr, values: { result: r, initial },
        message: `${num(nonZero.length)} successful FETCH_ADDs on ${at.where} returned the same original value ${hex(r)}: an add was lost or applied twice`,
        ops: nonZero,
      })
    }
  }

  // Results as partial sums, and real-time order, when the adds are positive and never wrap.
  const all = ops.map(addOf)
  if (!all.every((a) => a > 0n && a < HALF) || initial + sumOk + sumUnknown >= M) return decided
  const sorted = ok.map((o) => ({ o, d: (o.result as bigint) - initial })).sort((a, b) => (a.d < b.d ? -1 : a.d > b.d ? 1 : 0))
  const equal = unknown.length > 0 && all.every((a) => a === all[0]) ? all[0] : undefined
  let expected = 0n
  let filled = 0n
  let prev: bigint | undefined
  for (const { o, d } of sorted) {
    if (d === prev) continue // a duplicate, reported above
    prev = d
    const gap = d - expected
    const bad = d < 0n || (unknown.length === 0 ? gap !== 0n
      : equal !== undefined ? gap < 0n || gap % equal !== 0n || filled + gap > sumUnknown
        : gap < 0n || filled + gap > sumUnknown)
    if (bad) {
      anomalies.add({
        kind: 'impossible-result', word: at.word, mr: at.mr, values: { result: o.result as bigint, expected: initial + expected, initial },
        message: `FETCH_ADD ${o.id} on ${at.where} returned ${hex(o.result as bigint)}, which is not initial + the adds before it (${hex(initial + expected)}` +
          (unknown.length ? `, with at most ${num(unknown.length)} indeterminate adds in between)` : ')'),
        ops: [o],
      })
    } else filled += gap
    expected = d + addOf(o)
  }
  // Real time: an add linearized later (larger result) cannot have completed before this one was posted.
  const distinct = sorted.filter((s, i) => i === 0 || s.d !== sorted[i - 1].d).map((s) => s.o)
  let minOp: HistoryOp | undefined
  for (let i = distinct.length - 1; i >= 0; i--) {
    const o = distinct[i]
    if (minOp && (minOp.completedUs ?? Infinity) < o.postedUs) {
      anomalies.add({
        kind: 'impossible-result', word: at.word, mr: at.mr, values: { result: o.result as bigint, later: minOp.result as bigint },
        message: `FETCH_ADD ${o.id} on ${at.where} (posted ${o.postedUs} µs) returned ${hex(o.result as bigint)}, less than FETCH_ADD ${minOp.id}'s ${hex(minOp.result as bigint)}, which had completed at ${minOp.completedUs} µs: against real-time order`,
        ops: [o, minOp],
      })
    }
    if (!minOp || (o.completedUs ?? Infinity) < (minOp.completedUs ?? Infinity)) minOp = o
  }
  return decided
}

/** CMP_SWAP checks on one word. */
function cmpSwaps(ops: HistoryOp[], initial: bigint, final: bigint | undefined, at: At, anomalies: AnomalyList): void {
  const ok = ops.filter((o) => acked(o) && o.result !== undefined)
  const unknown = ops.filter((o) => !acked(o))
  const swapped = ok.filter((o) => o.result === o.compare)
  // value -> the operations that stored it (or may have): how many, and the two posted first.
  const storedBy = new Map<bigint, { n: number; first: HistoryOp; second?: HistoryOp }>()
  for (const o of [...swapped, ...unknown]) {
    if (o.value === undefined) continue
    const e = storedBy.get(o.value)
    if (!e) storedBy.set(o.value, { n: 1, first: o })
    else {
      e.n++
      if (o.postedUs < e.first.postedUs) { e.second = e.first; e.first = o } else if (!e.second || o.postedUs < e.second.postedUs) e.second = o
    }
  }
  // Unique swap values (none the initial, none swapping a value for itself): the values form one chain.
  const values = ops.map((o) => o.value)
  const unique = new Set(values).size === values.length && !values.includes(initial) && ops.every((o) => o.value !== o.compare)
  // value -> the successful swaps that replaced it
  const replacedBy = new Map<bigint, HistoryOp[]>()
  for (const o of swapped) {
    const l = replacedBy.get(o.result as bigint) ?? []
    l.push(o)
    replacedBy.set(o.result as bigint, l)
  }

  for (const c of ok) {
    const r = c.result as bigint
    const done = c.completedUs ?? Infinity
    const values = { result: r, initial, compare: c.compare ?? 0n }
    if (r !== initial) {
      // The storers of r other than c itself (c's result is the value before c).
      const e = storedBy.get(r)
      const self = c.result === c.compare && c.value === r
      const others = e ? e.n - (self ? 1 : 0) : 0
      const earliest = e && (e.first !== c ? e.first : e.second)
      if (others === 0 || !earliest) {
        anomalies.add({
          kind: 'impossible-result', word: at.word, mr: at.mr, values,
          message: `CMP_SWAP ${c.id} on ${at.where} returned ${hex(r)}, neither the initial value nor a value any swapping CMP_SWAP stored`,
          ops: [c],
        })
        continue
      }
      if (earliest.postedUs > done) {
        anomalies.add({
          kind: 'impossible-result', word: at.word, mr: at.mr, values,
          message: `CMP_SWAP ${c.id} on ${at.where} returned ${hex(r)}, stored only by CMP_SWAP ${earliest.id}${others > 1 ? ' and later ones' : ''}, posted ${earliest.postedUs} µs, after ${c.id} completed at ${done} µs: from the future`,
          ops: [c, earliest],
        })
        continue
      }
    }
    if (!unique) continue
    const gone = (replacedBy.get(r) ?? []).find((e) => e !== c && (e.completedUs ?? Infinity) < c.postedUs)
    if (gone) {
      anomalies.add({
        kind: 'impossible-result', word: at.word, mr: at.mr, values,
        message: `CMP_SWAP ${c.id} on ${at.where} (posted ${c.postedUs} µs) returned ${hex(r)}, which CMP_SWAP ${gone.id} had already replaced (completed ${gone.completedUs} µs): stale`,
        ops: [c, gone],
      })
    }
  }

  if (unique) {
    for (const [v, l] of replacedBy) {
      if (l.length > 1) {
        anomalies.add({
          kind: 'duplicate-result', word: at.word, mr: at.mr, values: { result: v, initial },
          message: `${num(l.length)} successful CMP_SWAPs on ${at.where} each replaced ${hex(v)}, which was stored once`,
          ops: l,
        })
      }
    }
  }

  if (final === undefined) return
  if (final !== initial && !storedBy.has(final)) {
    anomalies.add({
      kind: 'wrong-final', word: at.word, mr: at.mr, values: { final, initial },
      message: `${at.where} ends at ${hex(final)}, neither the initial value nor a value any swapping CMP_SWAP stored`,
      ops: swapped.slice(-5),
    })
    return
  }
  if (!unique) return
  const replacer = replacedBy.get(final)
  if (replacer) {
    anomalies.add({
      kind: 'wrong-final', word: at.word, mr: at.mr, values: { final, initial },
      message: `${at.where} ends at ${hex(final)}, which CMP_SWAP ${replacer[0].id} had replaced: the last swap was lost`,
      ops: [storedBy.get(final)?.first, ...replacer].filter((o): o is HistoryOp => o !== undefined),
    })
  }
  const unknownCompares = new Set(unknown.map((o) => o.compare))
  for (const c of swapped) {
    const s = c.value as bigint
    if (s === final || replacedBy.has(s) || unknownCompares.has(s)) continue
    anomalies.add({
      kind: 'wrong-final', word: at.word, mr: at.mr, values: { stored: s, final, initial },
      message: `CMP_SWAP ${c.id} swapped ${hex(s)} into ${at.where} (its result equals its compare), yet the word ends at ${hex(final)} and no CMP_SWAP replaced ${hex(s)}: the swap was lost`,
      ops: [c],
    })
  }
}

function hex(v: bigint): string {
  return `0x${v.toString(16)}`
}
