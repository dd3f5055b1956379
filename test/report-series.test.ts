import t from 'tap'
import { buildSeries, DEFAULT_INTERVAL_MS, throughput } from '../src/report/series.ts'
import { op } from './report-fixture.ts'

// Per stream, per interval: successful completions and their bytes, error
// completions, and the increase of the sampled retransmission counter.
t.test('series - ops, bytes, errors and retransmissions per interval', async (t) => {
  const s = buildSeries({
    ops: [
      op('a', 10_000, 'SUCCESS', 100),
      op('a', 49_999, 'SUCCESS', 28),
      op('a', 50_000, 'SUCCESS', 8),
      op('a', 60_000, 'RETRY_EXC_ERR', 4096),
      op('a', 120_000, 'WR_FLUSH_ERR', 4096),
      op('a', undefined, 'PENDING', 4096),
      op('a', 130_000, 'PENDING', 4096),
      op('b', 149_000, 'SUCCESS', 1),
    ],
    samples: [
      { stream: 'a', samples: [{ tUs: 100_000, retransmissions: 5 }, { tUs: 40_000, retransmissions: 2 }, { tUs: 140_000, retransmissions: 9 }] },
      // A second counter of the same stream (another QP), reset in the middle.
      { stream: 'a', samples: [{ tUs: 20_000, retransmissions: 1 }, { tUs: 110_000, retransmissions: 4 }, { tUs: 120_000, retransmissions: 2 }] },
    ],
    endUs: 150_000,
  })
  t.equal(s.intervalMs, DEFAULT_INTERVAL_MS, 'default interval 50 ms')
  t.equal(s.startUs, 0)
  t.equal(s.endUs, 150_000)
  t.same(s.streams.map((x) => x.id), ['a', 'b'], 'streams sorted by id')
  const a = s.streams[0]!
  t.same(a.points.map((p) => p.tMs), [0, 50, 100], 'one point per interval, at its start (ms)')
  t.same(a.points.map((p) => p.ops), [2, 1, 0], 'successful completions per interval; the boundary belongs to the next')
  t.same(a.points.map((p) => p.bytes), [128, 8, 0], 'bytes of successful operations only')
  t.same(a.points.map((p) => p.errors), [0, 1, 1], 'error completions; PENDING and never-completed ops not counted')
  // counter 1: 2 at 40 ms, +3 at 100 ms, +4 at 140 ms; counter 2: 1 at 20 ms, +3 at 110 ms, reset to 2 at 120 ms.
  t.same(a.points.map((p) => p.retransmissions), [3, 0, 3 + 4 + 3 + 2], 'deltas of each counter, a reset counting from 0')
  t.same(a.totals, { ops: 3, bytes: 136, errors: 2, retransmissions: 15 })
  t.same(s.streams[1]!.points.map((p) => p.ops), [0, 0, 1])
  t.equal(throughput(a.points[0]!, 50, 'ops'), 40, '2 ops in 50 ms = 40 ops/s')
  t.equal(throughput({ ...a.points[0]!, bytes: 2 ** 20 }, 50, 'MiB'), 20, '1 MiB in 50 ms = 20 MiB/s')
})

t.test('series - interval, start and end', async (t) => {
  const ops = [op('a', 5_000), op('a', 250_000), op('a', 260_000)]
  const s = buildSeries({ ops, intervalMs: 100, faults: [{ id: 'f', kind: 'loss', label: 'loss 2%', startUs: 100_000, endUs: 420_000 }] })
  t.equal(s.endUs, 500_000, 'the end covers the last time seen (the fault end), in whole intervals')
  t.same(s.streams[0]!.points.map((p) => p.ops), [1, 0, 2, 0, 0])
  const w = buildSeries({ ops, intervalMs: 100, startUs: 100_000, endUs: 200_000 })
  t.same(w.streams[0]!.points.map((p) => [p.tMs, p.ops]), [[100, 0]], 'outside [start, end) left out')
  const empty = buildSeries({ ops: [] })
  t.equal(empty.streams.length, 0)
  t.equal(empty.endUs, 50_000, 'one interval when nothing happened')
  t.throws(() => buildSeries({ ops, intervalMs: 0 }), RangeError)
  t.same(
    buildSeries({ ops: [], events: [{ atUs: 9, kind: 'step', label: 'z' }, { atUs: 3, kind: 'step', label: 'y' }] }).events.map((e) => e.label),
    ['y', 'z'],
    'events in time order',
  )
  const roundTrip = JSON.parse(JSON.stringify(s))
  t.same(roundTrip, s, 'JSON-friendly: survives a round trip unchanged')
})
