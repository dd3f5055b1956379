import t from 'tap'
import { checkLostWrites } from '../src/check/lost-write.ts'
import { formatResults } from '../src/check/format.ts'
import { history, memory, read, write, wv } from './check-helpers.ts'

t.test('sequential writes ending with the last one pass', async (t) => {
  const ops = [write(1, 0, 10, { n: 2 }), write(2, 20, 30, { n: 2 })]
  const r = checkLostWrites(history(ops), [memory({ 0: wv(2, 0), 1: wv(2, 1) })])
  t.ok(r.ok, formatResults([r]))
  t.equal(r.counts?.words, 2)
  t.equal(r.counts?.writes, 2)
  t.match(r.summary, /^2 words, 0 anomalies/)
})

t.test('concurrent writes: either may end the word', async (t) => {
  const ops = [write(1, 0, 30), write(2, 10, 20)]
  t.ok(checkLostWrites(history(ops), [memory({ 0: wv(1, 0) })]).ok)
  t.ok(checkLostWrites(history(ops), [memory({ 0: wv(2, 0) })]).ok)
})

t.test('a lost write: the final value is an older write than an acknowledged later one', async (t) => {
  const ops = [write(1, 0, 10), write(2, 20, 30)]
  const r = checkLostWrites(history(ops), [memory({ 0: wv(1, 0) })])
  t.notOk(r.ok)
  t.equal(r.anomalies.length, 1)
  const a = r.anomalies[0]
  t.equal(a.kind, 'lost-write')
  t.equal(a.word, 0)
  t.same(a.ops.map((o) => o.id), [1, 2])
  t.equal(a.values?.final, wv(1, 0))
  t.equal(a.values?.lost, wv(2, 0))
  t.match(a.message, /or write 1 was replayed/)
  const text = formatResults([r])
  t.match(text, /^FAIL lost-write: 1 words, 1 anomaly \(1 lost-write\)/)
  t.match(text, /op 2 c1 qp 0x1 write mr0@s1\+0x0 \(8 B\) 20→30 µs SUCCESS wrote\[0\]=0xe5/)
})

t.test('the initial value after an acknowledged write is a lost write', async (t) => {
  const r = checkLostWrites(history([write(1, 0, 10, { n: 3 })]), [memory({ 0: wv(1, 0), 2: wv(1, 2) })])
  t.notOk(r.ok)
  t.equal(r.anomalies.length, 1)
  t.equal(r.anomalies[0].kind, 'lost-write')
  t.equal(r.anomalies[0].word, 1)
  t.match(r.anomalies[0].message, /ends with the initial value/)
})

t.test('a duplicated write: a replayed old write shows after a newer acknowledged one a READ saw', async (t) => {
  const ops = [write(1, 0, 10), write(2, 20, 30), read(3, 40, 50, [wv(2, 0)])]
  const r = checkLostWrites(history(ops), [memory({ 0: wv(1, 0) })])
  t.notOk(r.ok)
  t.equal(r.anomalies[0].kind, 'duplicated-write')
  t.same(r.anomalies[0].ops.map((o) => o.id), [1, 2, 3, 2])
  t.match(r.anomalies[0].message, /write 1 was replayed/)
})

t.test('indeterminate writes may or may not have taken effect', async (t) => {
  const ops = [write(1, 0, 10), write(2, 20, 30, { status: 'RETRY_EXC_ERR' }), write(3, 40, undefined)]
  for (const id of [1, 2, 3]) t.ok(checkLostWrites(history(ops), [memory({ 0: wv(id, 0) })]).ok, `final = write ${id}`)
  t.notOk(checkLostWrites(history(ops), [memory({})]).ok, 'but not the initial value: write 1 was acknowledged')
  // An indeterminate write never finishes, so a later acknowledged write does not make it stale.
  const ops2 = [write(1, 0, 10, { status: 'RETRY_EXC_ERR' }), write(2, 20, 30)]
  t.ok(checkLostWrites(history(ops2), [memory({ 0: wv(1, 0) })]).ok)
})

t.test('a misplaced write: another word\'s value, in a written word and in an untouched one', async (t) => {
  const ops = [write(1, 0, 10, { n: 2 })]
  const r = checkLostWrites(history(ops), [memory({ 0: wv(1, 0), 1: wv(1, 0) })])
  t.notOk(r.ok)
  t.equal(r.anomalies[0].kind, 'misplaced-write')
  t.match(r.anomalies[0].message, /word 1 of mr0@s1 holds the value write 1 wrote for word 0/)
  const r2 = checkLostWrites(history(ops), [memory({ 0: wv(1, 0), 1: wv(1, 1), 9: wv(1, 1) })])
  t.notOk(r2.ok)
  t.equal(r2.anomalies[0].kind, 'misplaced-write')
  t.equal(r2.anomalies[0].word, 9)
  t.match(r2.anomalies[0].message, /which no write covered/)
})

t.test('another MR\'s value and garbage are caught', async (t) => {
  const other = { ...write(2, 0, 10), mr: 'mr1' }
  const r = checkLostWrites(history([write(1, 0, 10), other]), [memory({ 0: wv(2, 0) })])
  t.equal(r.anomalies[0]?.kind, 'misplaced-write')
  t.match(r.anomalies[0].message, /word 0 of mr1@s1/)
  const g = checkLostWrites(history([write(1, 0, 10)]), [memory({ 0: 0x1234n })])
  t.equal(g.anomalies[0]?.kind, 'corrupt-write')
  t.equal(g.anomalies[0].values?.final, 0x1234n)
})

t.test('restart: unflushed writes are counted and listed, flushed ones lost are violations', async (t) => {
  const ops = [write(1, 0, 10, { n: 2 }), write(2, 20, 30, { n: 2 })]
  const h = history(ops, { flushes: [{ mr: 'mr0', server: 's1', postedUs: 12, completedUs: 15 }], restarts: [{ server: 's1', atUs: 40 }] })
  const kept = checkLostWrites(h, [memory({ 0: wv(1, 0), 1: wv(1, 1) })])
  t.ok(kept.ok, formatResults([kept]))
  t.equal(kept.counts?.unflushed, 1)
  t.equal(kept.counts?.unflushedLostWords, 2)
  t.equal(kept.notes?.length, 1)
  t.equal(kept.notes?.[0].kind, 'unflushed')
  t.same(kept.notes?.[0].ops.map((o) => o.id), [2])
  t.match(formatResults([kept]), /^PASS lost-write: 2 words \(1 unflushed writes \(2 words lost with a restart\)\), 0 anomalies\n {2}note unflushed: write 2 .*\n {4}op 2 c1 qp 0x1 write/)
  // The unflushed write may also have survived.
  const survived = checkLostWrites(h, [memory({ 0: wv(2, 0), 1: wv(2, 1) })])
  t.ok(survived.ok)
  t.equal(survived.counts?.unflushedLostWords, 0)
  // The flushed write lost: a violation.
  const lost = checkLostWrites(h, [memory({ 1: wv(1, 1) })])
  t.notOk(lost.ok)
  t.equal(lost.anomalies.length, 1)
  t.equal(lost.anomalies[0].kind, 'lost-write')
  t.same(lost.anomalies[0].ops.map((o) => o.id), [1])
  // Without the restart the same memory loses write 2.
  const noRestart = checkLostWrites(history(ops), [memory({ 0: wv(1, 0), 1: wv(1, 1) })])
  t.equal(noRestart.counts?.anomalies, 2)
})

t.test('restart: a write completed while the FLUSH was in flight is not covered; writes after the restart count', async (t) => {
  const flushes = [{ mr: 'mr0', server: 's1', postedUs: 12, completedUs: 20 }]
  const restarts = [{ server: 's1', atUs: 40 }]
  const inFlight = history([write(1, 0, 10), write(2, 11, 14)], { flushes, restarts })
  const r = checkLostWrites(inFlight, [memory({ 0: wv(1, 0) })])
  t.ok(r.ok)
  t.equal(r.counts?.unflushed, 1)
  const after = history([write(1, 0, 10), write(3, 50, 60)], { flushes, restarts })
  const r2 = checkLostWrites(after, [memory({ 0: wv(1, 0) })])
  t.notOk(r2.ok)
  t.same(r2.anomalies[0].ops.map((o) => o.id), [1, 3])
  // A FLUSH as a history operation counts too; without a FLUSH nothing is durable.
  const asOp = history([write(1, 0, 10), { ...write(4, 12, 15), op: 'flush' as const, length: 0 }], { restarts })
  t.notOk(checkLostWrites(asOp, [memory({})]).ok)
  const none = checkLostWrites(history([write(1, 0, 10)], { restarts }), [memory({})])
  t.ok(none.ok)
  t.equal(none.counts?.unflushed, 1)
  t.match(none.notes?.[0].message ?? '', /no FLUSH/)
  const many = checkLostWrites(history(Array.from({ length: 30 }, (_, i) => write(i + 1, i * 20, i * 20 + 10)), { restarts: [{ server: 's1', atUs: 1000 }] }), [memory({})])
  t.ok(many.ok)
  t.equal(many.notes?.length, 20)
  t.equal(many.counts?.unflushed, 30)
  t.match(formatResults([many]), /\n {2}… and 10 more notes$/)
})

t.test('a second restart: writes unflushed at the first are not made durable by a later flush', async (t) => {
  const h = history([write(1, 0, 10), write(2, 100, 110)], {
    restarts: [{ server: 's1', atUs: 50 }, { server: 's1', atUs: 200 }],
    flushes: [{ mr: 'mr0', server: 's1', completedUs: 150 }],
  })
  const r = checkLostWrites(h, [memory({})])
  t.notOk(r.ok, 'write 2 was flushed before the second restart')
  t.same(r.anomalies[0].ops.map((o) => o.id), [2])
  t.equal(r.counts?.unflushed, 1, 'write 1 was lost with the first restart')
})

t.test('anomalies are capped at 20 and all counted', async (t) => {
  const r = checkLostWrites(history([write(1, 0, 10, { n: 50 })]), [memory({}, 64)])
  t.equal(r.anomalies.length, 20)
  t.equal(r.counts?.anomalies, 50)
  t.match(formatResults([r]), /… and 30 more anomalies/)
})

t.test('partially written words and words with atomics are skipped, MRs without final memory counted', async (t) => {
  const partial = { ...write(1, 0, 10), offset: 4, length: 8 }
  const r = checkLostWrites(history([partial, { ...write(2, 0, 10), mr: 'mrX' }]), [memory({})])
  t.ok(r.ok)
  t.equal(r.counts?.partial, 2)
  t.equal(r.counts?.unchecked, 1)
  const fa = { ...write(3, 0, 10), op: 'fetchAdd' as const, value: 1n, result: 0n }
  const m = checkLostWrites(history([write(1, 0, 10), fa]), [memory({})])
  t.ok(m.ok)
  t.equal(m.counts?.mixed, 1)
})
