/**
 * `bench --datapath compare`: the same test on the same cluster and the same
 * two processes, alternating the server's data path between inline (main
 * thread) and workers (piscina threads) for several rounds, so both are
 * measured side by side under the same machine load. Reports the median of
 * each and the ratio workers / inline (BW_average for _bw, t_typical for _lat).
 */
import type { ControlPlane } from '../../fabric/control-plane.ts'
import type { BenchOptions } from './bench-options.ts'
import { runBench, type BenchOutcome } from './run-bench.ts'

export interface DataPathComparison {
  metric: 'BW_average' | 't_typical'
  inline: number[]
  workers: number[]
  medianInline: number
  medianWorkers: number
  /** medianWorkers / medianInline. For BW above 1 means the workers are faster; for latency, below 1. */
  ratio: number
  /** Every round's outcome, for data-check problems. */
  outcomes: BenchOutcome[]
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

export async function setDataPath(control: ControlPlane, serverId: string, mode: 'inline' | 'workers' | 'adaptive'): Promise<void> {
  await control.request(serverId, 'rdma.dataPath', { mode })
}

export async function compareDataPaths(control: ControlPlane, serverId: string, clientId: string, o: BenchOptions): Promise<DataPathComparison> {
  const metric = o.kind === 'bw' ? 'BW_average' : 't_typical'
  const figure = (r: BenchOutcome): number => (r.bw ? r.bw.BW_average : r.lat!.t_typical)
  const res = { inline: [] as number[], workers: [] as number[] }
  const outcomes: BenchOutcome[] = []
  for (let round = 0; round < o.rounds; round++) {
    // Alternate which goes first, so a drift in machine load favours neither.
    const order: Array<'inline' | 'workers'> = round % 2 ? ['workers', 'inline'] : ['inline', 'workers']
    for (const mode of order) {
      await setDataPath(control, serverId, mode)
      const r = await runBench(control, serverId, clientId, o)
      outcomes.push(r)
      res[mode].push(figure(r))
    }
  }
  const medianInline = median(res.inline)
  const medianWorkers = median(res.workers)
  return { metric, ...res, medianInline, medianWorkers, ratio: medianInline > 0 ? medianWorkers / medianInline : 0, outcomes }
}

export function formatComparison(c: DataPathComparison, unit: string): string {
  const f = (v: number) => v.toFixed(2)
  return [
    ` data path comparison (${c.inline.length} rounds each, alternating, median ${c.metric} in ${unit}):`,
    `   inline  : ${f(c.medianInline).padStart(10)}   (${c.inline.map(f).join(', ')})`,
    `   workers : ${f(c.medianWorkers).padStart(10)}   (${c.workers.map(f).join(', ')})`,
    `   ratio workers/inline : ${c.ratio.toFixed(3)}`,
  ].join('\n') + '\n'
}
