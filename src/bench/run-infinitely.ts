/**
 * bench --run_infinitely (perftest's RUN_INFINITELY, bw tests): a result
 * line every -D seconds (DEF_DURATION without -D) until the user interrupts
 * (SIGINT or SIGTERM). Each line is one -D run on the same cluster and
 * connections set up afresh; perftest measures no BW peak here. An interrupt
 * lets the current interval finish, prints its line, and ends the run
 * cleanly (exit 0, the cluster torn down).
 */
import type { ControlPlane } from '../../fabric/control-plane.ts'
import type { BenchOptions } from './bench-options.ts'
import { tableHeader, tableRow } from './perftest-format.ts'
import { runBench } from './run-bench.ts'

const STOP_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM']

/** Run until interrupted; resolves with the problems the runs found (the data checks), once stopped. */
export async function runInfinitely(control: ControlPlane, serverId: string, clientIds: readonly string[], o: BenchOptions, write: (text: string) => void, failed: Promise<never>): Promise<string[]> {
  let stop = false
  const onSignal = (): void => {
    stop = true
  }
  for (const s of STOP_SIGNALS) process.on(s, onSignal)
  const problems: string[] = []
  try {
    let header = false
    while (!stop) {
      const r = await Promise.race([runBench(control, serverId, clientIds, o), failed])
      if (!header) {
        const warn = o.peakOffReason !== undefined ? " WARNING: BW peak won't be measured in this run.\n" : ''
        write(`${warn} Running infinitely: a line every ${o.duration} s until interrupted (Ctrl-C)\n${tableHeader(r)}\n`)
        header = true
      }
      write(tableRow(r, o.reportGbits) + '\n')
      problems.push(...r.problems)
      if (r.problems.length > 0) break
    }
  } finally {
    for (const s of STOP_SIGNALS) process.off(s, onSignal)
  }
  return problems
}
