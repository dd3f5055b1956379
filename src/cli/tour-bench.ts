/**
 * Tour step: two short perftest runs on the running cluster, each beside raw
 * ZeroMQ messaging of the same size and window between the same two
 * processes (bench --baseline): write_bw at 64 KiB and read_lat at 8 B.
 */
import { parseBenchOptions, type RawBenchOptions } from '../bench/bench-options.ts'
import { baselineRatio, runBaseline, warmUp } from '../bench/baseline.ts'
import { runBench } from '../bench/run-bench.ts'
import { EmuError, ErrorCodes } from '../errors.ts'
import { formatTable } from '../report/table.ts'
import type { TourStep } from './tour-fabric-rtt.ts'

const RUNS: Array<[string, RawBenchOptions]> = [
  ['write_bw', { size: '65536', iters: '1000' }],
  ['read_lat', { size: '8', iters: '300' }],
]

export const benchVsBaseline: TourStep = {
  title: 'perftest on the emulator vs raw ZeroMQ (bench --baseline)',
  async run(cluster, out) {
    const server = cluster.nodes.find((n) => n.role === 'server')
    const client = cluster.nodes.find((n) => n.role === 'client')
    if (!server || !client) {
      out('(skipped: the cluster needs a server node and a client node)')
      return
    }
    const rows: Array<Array<string | number>> = []
    const problems: string[] = []
    for (const [test, raw] of RUNS) {
      const o = parseBenchOptions(test, { ...raw, baseline: true })
      problems.push(...(await warmUp(cluster.control, server.id, [client.id], o)))
      const emulator = await runBench(cluster.control, server.id, client.id, o)
      const baseline = await runBaseline(cluster.control, server.id, [client.id], o)
      problems.push(...emulator.problems, ...baseline.problems)
      const [metric, unit, fmt] = o.kind === 'bw' ? ['BW average', 'MiB/sec', (r: typeof emulator | typeof baseline) => r.bw!.BW_average] : ['t_typical', 'usec', (r: typeof emulator | typeof baseline) => r.lat!.t_typical]
      rows.push([
        test, o.size, o.iters, `${metric} [${unit}]`, fmt(emulator).toFixed(2), fmt(baseline).toFixed(2), baselineRatio(emulator, baseline).toFixed(3),
        emulator.problems.length + baseline.problems.length === 0 ? 'OK' : 'FAILED',
      ])
    }
    out(`${client.id} -> ${server.id}; raw ZeroMQ = zeromq.js messages of the same size and window between the same two processes:`)
    out('')
    out(formatTable(['TEST', 'BYTES', 'ITERS', 'FIGURE', 'EMULATOR', 'RAW ZEROMQ', 'RATIO', 'DATA CHECK'], rows, [1, 2, 4, 5, 6]))
    out('')
    out('ratio = emulator / raw ZeroMQ (for bandwidth higher is better, for latency lower); read_lat is the full round trip, as perftest.')
    out('More: rdma-emu bench --help (perftest options, --baseline, -a sweeps with CSV/JSON/SVG).')
    if (problems.length > 0) throw new EmuError(ErrorCodes.NODE_FAILED, `bench data check failed: ${problems.join('; ')}`)
  },
}
