/**
 * `bench --baseline`: the emulated run's yardstick, measured in the same run
 * between the same processes (each client node and the server node) with raw
 * zeromq.js messages of the same size and window (src/host/baseline-service.ts).
 *
 * What one operation is on raw ZeroMQ, mirroring what the emulator moves:
 * - write / send _bw: a `size`-byte message client -> server, credits coming
 *   back every half window (streaming, like coalesced RC ACKs);
 * - write / send _lat: `size` bytes each way (perftest's ping-pong), window 1;
 * - read: a 16-byte request (a RETH) answered with `size` bytes;
 * - atomic: a 28-byte request (an AtomicETH) answered with 8 bytes.
 * Figures use the emulator's formulas (benchFigures), half the round trip
 * where the emulator reports half, so the ratio compares like with like.
 * The baseline always moves a count: beside a -D run, the emulator's
 * completed operations per QP (baselineOptions).
 */
import type { ControlPlane } from '../../fabric/control-plane.ts'
import type { BaselineListenReply, BaselineRunResult, BaselineShape } from '../../fabric/node-message-types.ts'
import type { BenchOptions } from './bench-options.ts'
import { benchFigures, isHalfRoundTrip, runBench, type BenchOutcome, type BwFigures, type LatFigures } from './run-bench.ts'

/** RETH: virtual address, rkey, length. */
const READ_REQUEST_BYTES = 16
/** AtomicETH: virtual address, rkey, swap/add, compare. */
const ATOMIC_REQUEST_BYTES = 28

export interface BaselineOutcome {
  /** How one operation was carried, in words. */
  shape: string
  bw?: BwFigures
  lat?: LatFigures
  elapsedMs: number
  /** Empty when every request arrived with its size and every answer came back. */
  problems: string[]
  /** With --cpu_util: each node's CPU over the baseline run (cpu-util.ts withBaselineCpu). */
  cpu?: import('./cpu-util.ts').CpuFigures
}

/** Request and answer of one operation of test `o` on raw ZeroMQ. */
export function baselineShape(o: BenchOptions): Omit<BaselineShape, 'count'> & { describe: string } {
  const window = Math.min(o.txDepth, o.iters)
  switch (o.verb) {
    case 'read':
      return { reqBytes: READ_REQUEST_BYTES, respBytes: o.size, respEvery: 1, describe: `${READ_REQUEST_BYTES} B request, ${o.size} B answer` }
    case 'atomic':
      return { reqBytes: ATOMIC_REQUEST_BYTES, respBytes: 8, respEvery: 1, describe: `${ATOMIC_REQUEST_BYTES} B request, 8 B answer` }
    default:
      if (o.kind === 'lat') return { reqBytes: o.size, respBytes: o.size, respEvery: 1, describe: `${o.size} B each way (ping-pong)` }
      {
        const every = Math.max(1, Math.floor(window / 2))
        return { reqBytes: o.size, respBytes: 0, respEvery: every, describe: `${o.size} B messages streamed, a credit every ${every}` }
      }
  }
}

/**
 * Run the baseline of test `o`: one stream per QP of every client node, all
 * in parallel. With `onFraction`, the server's received count is polled for progress.
 */
export async function runBaseline(control: ControlPlane, serverId: string, clientIds: readonly string[], o: BenchOptions, onFraction?: (f: number) => void): Promise<BaselineOutcome> {
  if (o.duration !== undefined) throw new Error('runBaseline: a count, not a duration (see baselineOptions)')
  const { describe, ...shape } = baselineShape(o)
  const body: BaselineShape = { ...shape, count: o.iters }
  const window = Math.min(o.txDepth, o.iters)
  const streams: Array<{ client: string; listen: BaselineListenReply }> = []
  try {
    for (const client of clientIds) {
      for (let k = 0; k < o.qps; k++) streams.push({ client, listen: await control.request(serverId, 'baseline.listen', body) })
    }
    // Generous: a slow machine moving 8 MiB messages needs time.
    const timeoutMs = 120_000 + o.iters * (1 + o.size / 65536)
    const poll = onFraction
      ? setInterval(() => {
          const tokens = streams.map((s) => s.listen.token)
          control
            .request(serverId, 'baseline.received', { tokens }, 2000)
            .then((got) => onFraction(got.reduce((a, b) => a + b, 0) / (o.iters * tokens.length)))
            .catch(() => {})
        }, 250)
      : undefined
    let results: BaselineRunResult[]
    try {
      results = await Promise.all(
        streams.map((s) => control.request(s.client, 'baseline.run', { ...body, endpoint: s.listen.endpoint, ...(s.listen.serverKey ? { serverKey: s.listen.serverKey } : {}), window, timeoutMs }, timeoutMs + 5000)),
      )
    } finally {
      clearInterval(poll)
    }
    const problems: string[] = []
    results.forEach((r, k) => problems.push(...r.problems.map((p) => `baseline stream ${k}: ${p}`)))
    const closed = await Promise.all(streams.splice(0).map((s) => control.request(serverId, 'baseline.close', { token: s.listen.token })))
    closed.forEach((c, k) => {
      if (c.received !== o.iters) problems.push(`baseline stream ${k}: server received ${c.received} of ${o.iters} messages`)
      if (c.badSize > 0) problems.push(`baseline stream ${k}: ${c.badSize} messages were not ${shape.reqBytes} bytes`)
    })
    const runs = results.map((r) => ({ completed: r.latenciesUs.length, elapsedMs: r.elapsedMs, latenciesUs: r.latenciesUs }))
    return { shape: describe, problems, ...benchFigures(o, runs, isHalfRoundTrip(o)) }
  } finally {
    // After a failure: close whatever is still open, quietly.
    await Promise.all(streams.map((s) => control.request(serverId, 'baseline.close', { token: s.listen.token }).catch(() => {})))
  }
}

/**
 * The options the baseline of an emulated run uses: the run's own, except
 * that a -D run's baseline moves a fixed count per stream, the operations the
 * emulator completed per QP (on average) in the duration.
 */
export function baselineOptions(o: BenchOptions, emulator: Pick<BenchOutcome, 'completedPerQp'>): BenchOptions {
  if (o.duration === undefined) return o
  const done = emulator.completedPerQp
  const perQp = Math.max(1, Math.round(done.reduce((a, b) => a + b, 0) / Math.max(1, done.length)))
  return { ...o, duration: undefined, iters: perQp }
}

/** Operations of the untimed warm-up that precedes a --baseline comparison. */
export const WARMUP_ITERS = 500

/**
 * Warm both sides up before they are compared: a short untimed emulated run
 * and a short raw ZeroMQ run of the same shape, so neither is measured with
 * cold code (the JIT) or cold connections. Their figures are dropped;
 * their data checks are not.
 */
export async function warmUp(control: ControlPlane, serverId: string, clientIds: readonly string[], o: BenchOptions): Promise<string[]> {
  const w: BenchOptions = { ...o, iters: Math.min(o.iters, WARMUP_ITERS), duration: undefined }
  const emulator = await runBench(control, serverId, clientIds, w)
  const baseline = await runBaseline(control, serverId, clientIds, w)
  return [...emulator.problems, ...baseline.problems].map((p) => `warm-up: ${p}`)
}

/** The figure the ratio compares: BW_average for _bw tests, t_typical for _lat tests. */
export function ratioMetric(o: BenchOptions): 'BW_average' | 't_typical' {
  return o.kind === 'bw' ? 'BW_average' : 't_typical'
}

/** Emulator ÷ baseline of the ratio metric (0 when the baseline is 0). */
export function baselineRatio(emulator: Pick<BenchOutcome, 'bw' | 'lat'>, baseline: Pick<BaselineOutcome, 'bw' | 'lat'>): number {
  const e = emulator.bw ? emulator.bw.BW_average : emulator.lat!.t_typical
  const b = baseline.bw ? baseline.bw.BW_average : baseline.lat!.t_typical
  return b > 0 ? e / b : 0
}
