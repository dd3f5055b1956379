/**
 * A crafted run for the report tests: two streams over 1 s, a partition
 * band, a delay band lasting to the end, a lease break and a restart, and
 * two checkers (one failing, with evidence). Labels hold characters XML
 * must escape.
 */
import type { RunReportInput, SeriesOp } from '../src/report/run-report-types.ts'

/** A completed (or pending) operation of `stream`. */
export function op(stream: string, completedUs: number | undefined, status = 'SUCCESS', length = 4096): SeriesOp {
  return { stream, op: 'write', length, postedUs: Math.max(0, (completedUs ?? 0) - 100), completedUs, status }
}

export function fixtureRun(): RunReportInput {
  const ops: SeriesOp[] = []
  for (let t = 1000; t < 1_000_000; t += 5000) {
    const inPartition = t >= 300_000 && t < 500_000
    ops.push(op('write-a', inPartition ? undefined : t, inPartition ? 'PENDING' : 'SUCCESS'))
    // Half the rate of the writes.
    if (t % 10_000 === 1000) ops.push(op('read<b>', t + 1000, inPartition ? 'RETRY_EXC_ERR' : 'SUCCESS', 8))
  }
  return {
    title: 'partition-heal & friends',
    scenario: 'scenarios/partition-heal.json',
    policy: 'layout-lease',
    seed: 42,
    ops,
    samples: [
      { stream: 'write-a', samples: [50_000, 350_000, 400_000, 450_000, 600_000].map((tUs, i) => ({ tUs, retransmissions: i * 3 })) },
    ],
    faults: [
      { id: 'p1', kind: 'partition', label: 'partition server0 | client0 <both ways>', startUs: 300_000, endUs: 500_000 },
      { id: 'd1', kind: 'delay', label: 'delay 1 ms ± 0.5 ms', startUs: 700_000 },
    ],
    events: [
      { atUs: 320_000, kind: 'lease-break', label: 'lease.break "file0"' },
      { atUs: 800_000, kind: 'restart', label: 'restart server0' },
    ],
    checkers: [
      { name: 'no-lost-writes', ok: true, summary: '120 acknowledged writes, 0 lost', anomalies: [] },
      {
        name: 'linearizable-reads',
        ok: false,
        summary: '1 stale read',
        anomalies: [{ kind: 'stale-read', message: 'op 17 READ word 3 at 0.512 s returned op 9\'s value <overwritten by op 12 at 0.401 s>' }],
      },
    ],
    endUs: 1_000_000,
  }
}
