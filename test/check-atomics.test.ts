import t from 'tap'
import { checkAtomics } from '../src/check/atomics.ts'
import { formatResults } from '../src/check/format.ts'
import type { HistoryOp } from '../src/check/history.ts'
import { history, memory, op } from './check-helpers.ts'

function fa(id: number, posted: number, completed: number, add: bigint, result: bigint | undefined, status = 'SUCCESS', word = 0): HistoryOp {
  return op({ id, op: 'fetchAdd', postedUs: posted, completedUs: completed, value: add, result: status === 'SUCCESS' ? result : undefined, status, offset: word * 8 })
}
function cas(id: number, posted: number, completed: number, compare: bigint, swap: bigint, result: bigint | undefined, status = 'SUCCESS'): HistoryOp {
  return op({ id, op: 'cmpSwap', postedUs: posted, completedUs: completed, compare, value: swap, result: status === 'SUCCESS' ? result : undefined, status })
}
const check = (ops: HistoryOp[], final: bigint, initial = 0n) => checkAtomics(history(ops), [memory({ 0: final }, 4, initial)])

t.test('FETCH_ADD: sequential and concurrent adds that add up pass', async (t) => {
  const r = check([fa(1, 0, 10, 1n, 0n), fa(2, 20, 30, 1n, 1n), fa(3, 40, 50, 1n, 2n)], 3n)
  t.ok(r.ok, formatResults([r]))
  t.match(r.summary, /^1 words, 3 FETCH_ADD, 0 CMP_SWAP, 0 anomalies/)
  // Concurrent adds may be linearized in any order; different addends.
  t.ok(check([fa(1, 0, 50, 5n, 105n), fa(2, 10, 20, 2n, 100n), fa(3, 15, 60, 3n, 102n)], 110n, 100n).ok)
  // Zero addends may share a result.
  t.ok(check([fa(1, 0, 10, 0n, 0n), fa(2, 20, 30, 1n, 0n), fa(3, 40, 50, 0n, 1n)], 1n).ok)
})

t.test('FETCH_ADD: a wrong total', async (t) => {
  const r = check([fa(1, 0, 10, 1n, 0n), fa(2, 20, 30, 1n, 1n), fa(3, 40, 50, 1n, 2n)], 2n)
  t.notOk(r.ok)
  t.equal(r.anomalies.length, 1)
  t.equal(r.anomalies[0].kind, 'wrong-total')
  t.equal(r.anomalies[0].values?.final, 2n)
  t.equal(r.anomalies[0].values?.expected, 3n)
  t.match(formatResults([r]), /FAIL atomics: .*1 wrong-total[\s\S]*values: final=0x2 initial=0x0 expected=0x3/)
})

t.test('FETCH_ADD: indeterminate adds widen the achievable totals, and no further', async (t) => {
  const ops = [fa(1, 0, 10, 1n, 0n), fa(2, 20, 30, 10n, undefined, 'RETRY_EXC_ERR'), fa(3, 40, 50, 100n, undefined, 'PENDING')]
  for (const final of [1n, 11n, 101n, 111n]) t.ok(check(ops, final).ok, `final ${final}`)
  for (const final of [0n, 2n, 12n, 110n, 112n]) t.equal(check(ops, final).anomalies[0]?.kind, 'wrong-total', `final ${final}`)
  t.equal(check(ops, 11n).counts?.indeterminate, 2)
  // Many equal indeterminate adds: k * addend for 0 <= k <= n.
  const many = [fa(1, 0, 10, 1n, 0n), ...Array.from({ length: 40 }, (_, i) => fa(2 + i, 20, 30, 1n, undefined, 'WR_FLUSH_ERR'))]
  t.ok(check(many, 30n).ok)
  t.notOk(check(many, 42n).ok)
  // Results may leave gaps only the indeterminate adds can fill.
  t.ok(check([fa(1, 0, 10, 2n, 0n), fa(2, 12, 18, 2n, undefined, 'RETRY_EXC_ERR'), fa(3, 20, 30, 2n, 4n)], 6n).ok)
  t.equal(check([fa(1, 0, 10, 2n, 0n), fa(2, 12, 18, 2n, undefined, 'RETRY_EXC_ERR'), fa(3, 20, 30, 2n, 3n)], 6n).anomalies[0]?.kind, 'impossible-result')
})

t.test('FETCH_ADD: a duplicate result', async (t) => {
  const r = check([fa(1, 0, 10, 1n, 0n), fa(2, 5, 15, 1n, 0n)], 1n)
  t.notOk(r.ok)
  const kinds = r.anomalies.map((a) => a.kind)
  t.ok(kinds.includes('duplicate-result'))
  t.ok(kinds.includes('wrong-total'), 'and the final total is one short')
  const dup = r.anomalies.find((a) => a.kind === 'duplicate-result')
  t.same(dup?.ops.map((o) => o.id), [1, 2])
  t.equal(dup?.values?.result, 0n)
  // The total alone right (one applied twice, one lost): still the duplicate.
  t.ok(check([fa(1, 0, 10, 1n, 0n), fa(2, 5, 15, 1n, 0n)], 2n).anomalies.some((a) => a.kind === 'duplicate-result'))
})

t.test('FETCH_ADD: results that are no partial sum, or against real-time order', async (t) => {
  const gap = check([fa(1, 0, 10, 1n, 0n), fa(2, 20, 30, 1n, 5n)], 2n)
  t.ok(gap.anomalies.some((a) => a.kind === 'impossible-result' && a.ops[0].id === 2))
  const below = check([fa(1, 0, 10, 1n, 3n)], 11n, 10n)
  t.equal(below.anomalies[0]?.kind, 'impossible-result')
  // Add 2 started after add 1 finished, yet saw the value before it.
  const rt = check([fa(1, 0, 10, 1n, 1n), fa(2, 20, 30, 1n, 0n)], 2n)
  t.equal(rt.anomalies.length, 1)
  t.equal(rt.anomalies[0].kind, 'impossible-result')
  t.same(rt.anomalies[0].ops.map((o) => o.id), [2, 1])
  t.match(rt.anomalies[0].message, /against real-time order/)
})

t.test('CMP_SWAP: a chain of swaps and failed compares passes', async (t) => {
  const ops = [
    cas(1, 0, 10, 0n, 100n, 0n), // swapped 0 -> 100
    cas(2, 20, 30, 100n, 200n, 100n), // swapped 100 -> 200
    cas(3, 40, 50, 0n, 300n, 200n), // failed: saw 200
    cas(4, 60, 70, 999n, 400n, undefined, 'RETRY_EXC_ERR'), // indeterminate
  ]
  const r = check(ops, 200n)
  t.ok(r.ok, formatResults([r]))
  t.equal(r.counts?.cmpSwaps, 4)
  // Swap values that are not unique: only the weaker checks apply, and they pass.
  t.ok(check([cas(1, 0, 10, 0n, 5n, 0n), cas(2, 20, 30, 5n, 0n, 5n), cas(3, 40, 50, 0n, 5n, 0n)], 5n).ok)
})

t.test('CMP_SWAP: an impossible result', async (t) => {
  const r = check([cas(1, 0, 10, 0n, 100n, 0n), cas(2, 20, 30, 100n, 200n, 555n)], 100n)
  t.notOk(r.ok)
  t.equal(r.anomalies[0].kind, 'impossible-result')
  t.same(r.anomalies[0].ops.map((o) => o.id), [2])
  t.equal(r.anomalies[0].values?.result, 555n)
  // A failed compare's value stored nothing.
  t.equal(check([cas(1, 0, 10, 7n, 100n, 0n), cas(2, 20, 30, 0n, 5n, 100n)], 5n).anomalies[0]?.kind, 'impossible-result')
})

t.test('CMP_SWAP: results from the future, stale results, two swaps of one value', async (t) => {
  const future = check([cas(1, 0, 10, 0n, 1n, 100n), cas(2, 20, 30, 0n, 100n, undefined, 'RETRY_EXC_ERR')], 100n)
  t.equal(future.anomalies[0]?.kind, 'impossible-result')
  t.match(future.anomalies[0].message, /from the future/)
  const stale = check([cas(1, 0, 10, 0n, 100n, 0n), cas(2, 20, 30, 100n, 200n, 100n), cas(3, 40, 50, 7n, 300n, 100n)], 200n)
  t.equal(stale.anomalies.length, 1)
  t.equal(stale.anomalies[0].kind, 'impossible-result')
  t.match(stale.anomalies[0].message, /stale/)
  const dup = check([cas(1, 0, 10, 0n, 100n, 0n), cas(2, 5, 15, 0n, 200n, 0n)], 200n)
  t.ok(dup.anomalies.some((a) => a.kind === 'duplicate-result'))
})

t.test('CMP_SWAP: a wrong final value', async (t) => {
  const ops = [cas(1, 0, 10, 0n, 100n, 0n), cas(2, 20, 30, 100n, 200n, 100n)]
  const replaced = check(ops, 100n)
  t.notOk(replaced.ok)
  t.equal(replaced.anomalies[0].kind, 'wrong-final')
  t.match(replaced.anomalies[0].message, /CMP_SWAP 2 had replaced/)
  t.ok(check(ops, 0n).anomalies.some((a) => a.kind === 'wrong-final'), 'the initial value after a swap')
  t.equal(check(ops, 0xabcn).anomalies[0]?.kind, 'wrong-final')
  // A swap whose result equals its compare swapped: its value cannot vanish.
  const lost = check([cas(1, 0, 10, 0n, 100n, 0n), cas(2, 0, 10, 0n, 200n, undefined, 'RETRY_EXC_ERR')], 200n)
  t.ok(lost.anomalies.some((a) => a.kind === 'wrong-final' && /the swap was lost/.test(a.message)))
})

t.test('words written by WRITEs too, or with both atomics, are skipped', async (t) => {
  const w = op({ id: 9, op: 'write', postedUs: 0 })
  const r = check([fa(1, 0, 10, 1n, 0n), w], 0n)
  t.ok(r.ok)
  t.equal(r.counts?.mixed, 1)
  t.equal(check([fa(1, 0, 10, 1n, 0n), cas(2, 20, 30, 0n, 1n, 1n)], 77n).counts?.mixed, 1)
})

t.test('CMP_SWAP as a lock (0 -> 1 -> 0 ...): values repeat; many operations check fast', async (t) => {
  const ops: HistoryOp[] = []
  let v = 0n
  for (let i = 0; i < 20_000; i++) {
    const want = v === 0n ? 1n : 0n
    ops.push(cas(i + 1, i * 10, i * 10 + 5, v, want, v))
    v = want
  }
  const start = performance.now()
  const r = check(ops, v)
  t.ok(r.ok, formatResults([r]))
  t.ok(performance.now() - start < 1000, 'no quadratic scan of the repeated values')
  t.equal(check(ops, 7n).anomalies[0]?.kind, 'wrong-final')
  // A result from the future: the only op storing 5 is posted after op 1 completed.
  t.match(check([cas(1, 0, 10, 0n, 1n, 5n), cas(2, 20, 30, 0n, 5n, 0n)], 5n).anomalies[0]?.message ?? '', /from the future/)
})
