import t from 'tap'
import { checkExactlyOnce } from '../src/check/exactly-once.ts'
import { formatResults } from '../src/check/format.ts'
import { history, read, write } from './check-helpers.ts'

const RETRY = ['RETRY_EXC_ERR', 'WR_FLUSH_ERR']

t.test('every WR completed once with success: pass', async (t) => {
  const r = checkExactlyOnce(history([write(1, 0, 10), read(2, 20, 30, [0n]), write(3, 40, 50, { qpn: 2 })]), [])
  t.ok(r.ok)
  t.equal(r.counts?.wrs, 3)
  t.equal(r.counts?.qps, 2)
  t.equal(r.summary, '3 WRs on 2 QPs, 0 errors, 0 anomalies')
})

t.test('a WR completed twice', async (t) => {
  const r = checkExactlyOnce(history([write(1, 0, 10), { ...write(2, 20, 30), completions: 2 }]), [])
  t.notOk(r.ok)
  t.equal(r.anomalies.length, 1)
  t.equal(r.anomalies[0].kind, 'completed-twice')
  t.same(r.anomalies[0].ops.map((o) => o.id), [2])
  t.match(formatResults([r]), /FAIL exactly-once: .*\n {2}completed-twice: WR 2 \(write on c1 qp 1\) completed 2 times\n {4}op 2 .* 20→30 µs SUCCESS ×2/)
})

t.test('a WR never completed: PENDING, or no completion', async (t) => {
  const r = checkExactlyOnce(history([write(1, 0, undefined), { ...write(2, 20, 30), completions: 0 }]), [])
  t.same(r.anomalies.map((a) => [a.kind, a.ops[0].id]), [['never-completed', 1], ['never-completed', 2]])
  t.equal(r.counts?.pending, 2)
  t.match(formatResults([r]), /op 1 .* 0→… µs PENDING/)
})

t.test('an unexplained error, and errors a fault explains', async (t) => {
  const ops = [write(1, 0, 10, { status: 'REM_ACCESS_ERR' })]
  t.equal(checkExactlyOnce(history(ops), RETRY).anomalies[0]?.kind, 'unexplained-error')
  t.equal(checkExactlyOnce(history(ops), []).anomalies[0]?.kind, 'unexplained-error', 'a run without faults allows no error')
  t.ok(checkExactlyOnce(history(ops), ['REM_ACCESS_ERR']).ok)
  // Time-scoped: REM_ACCESS_ERR only after the revocation at 5 µs, for client c1.
  t.ok(checkExactlyOnce(history(ops), [{ status: 'REM_ACCESS_ERR', fromUs: 5, client: 'c1' }]).ok)
  t.notOk(checkExactlyOnce(history(ops), [{ status: 'REM_ACCESS_ERR', fromUs: 11 }]).ok, 'completed before the revocation')
  t.notOk(checkExactlyOnce(history(ops), [{ status: 'REM_ACCESS_ERR', client: 'c2' }]).ok)
  t.notOk(checkExactlyOnce(history(ops), [{ status: 'REM_ACCESS_ERR', server: 's9', toUs: 100 }]).ok)
})

t.test('RC order: after the first error on a QP every later WR is WR_FLUSH_ERR', async (t) => {
  const good = [write(1, 0, 10), write(2, 20, 30, { status: 'RETRY_EXC_ERR' }), write(3, 21, 30, { status: 'WR_FLUSH_ERR' }), write(4, 40, 41, { status: 'WR_FLUSH_ERR' })]
  t.ok(checkExactlyOnce(history(good), RETRY).ok)
  const bad = [...good.slice(0, 3), write(4, 40, 50), write(5, 60, 70, { status: 'RETRY_EXC_ERR' })]
  const r = checkExactlyOnce(history(bad), RETRY)
  t.same(r.anomalies.map((a) => [a.kind, a.ops.map((o) => o.id)]), [['not-flushed-after-error', [2, 4]], ['not-flushed-after-error', [2, 5]]])
  t.match(r.anomalies[0].message, /WR 4 on c1 qp 1 was posted after WR 2, which failed with RETRY_EXC_ERR, yet completed with SUCCESS/)
  // Other QPs, and a new connection on the same QP number, are not affected.
  t.ok(checkExactlyOnce(history([...good, write(5, 60, 70, { qpn: 2 }), { ...write(6, 80, 90), connection: 1 }]), RETRY).ok)
  // PENDING WRs after the error are reported once, as never completed.
  const p = checkExactlyOnce(history([...good, write(5, 60, undefined)]), RETRY)
  t.same(p.anomalies.map((a) => a.kind), ['never-completed'])
})
