import t from 'tap'
import { checkRegisters } from '../src/check/register.ts'
import { formatResults } from '../src/check/format.ts'
import { history, memory, read, write, wv } from './check-helpers.ts'

const mem = [memory({})]

t.test('reads of the current value, of a concurrent write, and of the initial value before any write pass', async (t) => {
  const ops = [
    read(1, 0, 5, [0n, 0n]),
    write(2, 10, 20, { n: 2 }),
    read(3, 12, 18, [0n, wv(2, 1)]), // concurrent with write 2: either value
    read(4, 25, 30, [wv(2, 0), wv(2, 1)]),
    write(5, 40, 60),
    read(6, 45, 50, [wv(2, 0)]),
    read(7, 55, 70, [wv(5, 0)]),
  ]
  const r = checkRegisters(history(ops), mem)
  t.ok(r.ok, formatResults([r]))
  t.equal(r.counts?.reads, 5)
  t.equal(r.counts?.readWords, 8)
  t.match(r.summary, /^5 reads, 8 words, 0 anomalies/)
})

t.test('a stale read: the value of a write an acknowledged write overwrote before the read was posted', async (t) => {
  const ops = [write(1, 0, 10), write(2, 20, 30), read(3, 40, 50, [wv(1, 0)])]
  const r = checkRegisters(history(ops), mem)
  t.notOk(r.ok)
  t.equal(r.anomalies.length, 1)
  const a = r.anomalies[0]
  t.equal(a.kind, 'stale-read')
  t.same(a.ops.map((o) => o.id), [3, 1, 2])
  t.equal(a.values?.read, wv(1, 0))
  t.equal(a.values?.current, wv(2, 0))
  t.match(formatResults([r]), /op 3 c1 qp 0x1 read mr0@s1\+0x0 \(8 B\) 40→50 µs SUCCESS read\[0\]=0xe5/)
})

t.test('the initial value after an acknowledged write completed is stale', async (t) => {
  const r = checkRegisters(history([write(1, 0, 10, { word: 1 }), read(2, 20, 30, [0n, 0n])]), mem)
  t.equal(r.anomalies.length, 1)
  t.equal(r.anomalies[0].kind, 'stale-read')
  t.equal(r.anomalies[0].word, 1)
  t.match(r.anomalies[0].message, /initial value/)
})

t.test('an overwrite still in flight, or indeterminate, does not make a value stale', async (t) => {
  t.ok(checkRegisters(history([write(1, 0, 10), write(2, 20, 45), read(3, 40, 50, [wv(1, 0)])]), mem).ok, 'write 2 completes after the read was posted')
  t.ok(checkRegisters(history([write(1, 0, 10), write(2, 5, 30), read(3, 40, 50, [wv(1, 0)])]), mem).ok, 'write 2 was concurrent with write 1')
  t.ok(checkRegisters(history([write(1, 0, 10), write(2, 20, 30, { status: 'RETRY_EXC_ERR' }), read(3, 40, 50, [wv(1, 0)])]), mem).ok)
  t.ok(checkRegisters(history([write(1, 0, 10, { status: 'WR_FLUSH_ERR' }), write(2, 20, 30), read(3, 40, 50, [wv(1, 0)])]), mem).ok, 'write 1 never finished')
  t.ok(checkRegisters(history([write(1, 0, undefined), read(2, 40, 50, [wv(1, 0)])]), mem).ok, 'a PENDING write may have landed')
})

t.test('a read from the future: a value of a write posted after the read completed', async (t) => {
  const r = checkRegisters(history([read(1, 0, 10, [wv(2, 0)]), write(2, 20, 30, { status: 'RETRY_EXC_ERR' })]), mem)
  t.notOk(r.ok)
  t.equal(r.anomalies[0].kind, 'future-read')
  t.same(r.anomalies[0].ops.map((o) => o.id), [1, 2])
})

t.test('garbage reads: another word\'s value, another MR\'s, or no write\'s', async (t) => {
  const w = write(1, 0, 10, { n: 2 })
  const other = { ...write(2, 0, 10), mr: 'mr1' }
  const r = checkRegisters(history([w, other, read(3, 20, 30, [wv(1, 1), wv(1, 1)]), read(4, 20, 30, [wv(2, 0)]), read(5, 20, 30, [0xdeadn], 1)]), mem)
  t.notOk(r.ok)
  t.same(r.anomalies.map((a) => [a.kind, a.ops[0].id, a.word]), [
    ['garbage-read', 3, 0],
    ['garbage-read', 4, 0],
    ['garbage-read', 5, 1],
  ])
  t.match(r.anomalies[0].message, /value write 1 wrote for word 1 of mr0@s1/)
  t.match(r.anomalies[1].message, /word 0 of mr1@s1/)
  t.match(r.anomalies[2].message, /neither the initial value nor any write's value/)
})

t.test('a read returning a non-zero initial value passes; words of other MRs get initial values from their memory', async (t) => {
  const m = [memory({}, 4, 0x77n), memory({}, 4, 0x99n, 'mr1')]
  const ops = [read(1, 0, 10, [0x77n]), { ...read(2, 0, 10, [0x99n]), mr: 'mr1' }]
  t.ok(checkRegisters(history(ops), m).ok)
  t.equal(checkRegisters(history([read(1, 0, 10, [0x99n])]), m).anomalies[0]?.kind, 'garbage-read')
})

t.test('restart: an unflushed write overwrites only for reads before the restart', async (t) => {
  const restarts = [{ server: 's1', atUs: 100 }]
  const ops = [write(1, 0, 10), write(2, 20, 30), read(3, 40, 50, [wv(1, 0)]), read(4, 120, 130, [wv(1, 0)])]
  const r = checkRegisters(history(ops, { restarts }), mem)
  t.equal(r.anomalies.length, 1, formatResults([r]))
  t.equal(r.anomalies[0].ops[0].id, 3, 'the read before the restart is stale, the one after it is not')
  // Flushed: write 2 survives the restart, so the read after it is stale too.
  const flushed = checkRegisters(history(ops, { restarts, flushes: [{ mr: 'mr0', server: 's1', completedUs: 60 }] }), mem)
  t.same(flushed.anomalies.map((a) => a.ops[0].id), [3, 4])
})

t.test('reads of words with atomics or partial writes are skipped and counted', async (t) => {
  const fa = { ...write(1, 0, 10), op: 'fetchAdd' as const, value: 1n, result: 0n }
  const partial = { ...write(2, 0, 10), offset: 12, length: 8 }
  const r = checkRegisters(history([fa, partial, read(3, 20, 30, [1n, 0x55n, 0x66n])]), mem)
  t.ok(r.ok)
  t.equal(r.counts?.skippedWords, 3)
  const unaligned = { ...read(4, 20, 30, [0n]), offset: 4 }
  t.equal(checkRegisters(history([unaligned]), mem).counts?.unalignedReads, 1)
})
