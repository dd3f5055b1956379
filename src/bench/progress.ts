/**
 * The bench progress bar (cli-progress, on stderr). Only for people watching:
 * never with --json, never under CI, never when stdout or stderr is not a
 * TTY, and only once a run has lasted a second (short runs print nothing).
 * Progress of one emulated run is read from the server's packet counter
 * (`verbs.counters`), polled a few times a second while the bar is wanted.
 */
import cliProgress from 'cli-progress'
import type { ControlPlane } from '../../fabric/control-plane.ts'
import { Params } from '../params.ts'
import type { BenchOptions } from './bench-options.ts'

/** The bar appears once the run has lasted this long. */
const SHOW_AFTER_MS = 1000
const POLL_MS = 250
/** Bar resolution: units are scaled by this, so fractions of a unit show. */
const SCALE = 1000

export function progressWanted(json: boolean, env: NodeJS.ProcessEnv = process.env): boolean {
  return !json && !env.CI && Boolean(process.stdout.isTTY) && Boolean(process.stderr.isTTY)
}

export class BenchProgress {
  private bar: cliProgress.SingleBar | undefined
  private readonly showTimer: NodeJS.Timeout | undefined
  private done = 0
  private label = ''
  private stopped = false

  /** `total` units of work (one per emulated run, one per baseline run). */
  constructor(
    readonly enabled: boolean,
    private readonly total: number,
    private readonly title: string,
  ) {
    if (!enabled) return
    this.showTimer = setTimeout(() => this.show(), SHOW_AFTER_MS)
    this.showTimer.unref()
  }

  /** `done` units finished (fractions allowed), and what runs now. */
  update(done: number, label?: string): void {
    this.done = Math.min(this.total, Math.max(this.done, done))
    if (label !== undefined) this.label = label
    this.bar?.update(Math.round(this.done * SCALE), { label: this.label })
  }

  stop(): void {
    if (this.stopped) return
    this.stopped = true
    if (this.showTimer) clearTimeout(this.showTimer)
    this.bar?.stop()
  }

  private show(): void {
    if (this.stopped) return
    this.bar = new cliProgress.SingleBar(
      {
        format: `${this.title} [{bar}] {percentage}% | {label} | {duration_formatted}`,
        stream: process.stderr,
        hideCursor: true,
        clearOnComplete: true,
        barsize: 30,
      },
      cliProgress.Presets.shades_classic,
    )
    this.bar.start(this.total * SCALE, Math.round(this.done * SCALE), { label: this.label })
  }
}

/**
 * How far one emulated run of `o` with `clients` client nodes goes: the
 * server packets it receives (requests only), or for -D runs its duration.
 */
export function expectedServerPackets(o: BenchOptions, clients: number): number | { durationMs: number } {
  if (o.duration !== undefined) return { durationMs: o.duration * 1000 }
  const perOp = o.verb === 'write' || o.verb === 'send' ? Math.max(1, Math.ceil(o.size / Params.defaultMtu)) : 1
  return clients * o.qps * o.iters * perOp
}

/**
 * While `run` goes, report its progress (0..1) from the server's received
 * packets, or for a -D run from the time passed. Does nothing when the bar is not wanted.
 */
export async function watchRun<T>(progress: BenchProgress, control: ControlPlane, serverId: string, expected: number | { durationMs: number }, onFraction: (f: number) => void, run: () => Promise<T>): Promise<T> {
  if (!progress.enabled) return run()
  if (typeof expected !== 'number') {
    const t0 = Date.now()
    const timer = setInterval(() => onFraction(Math.min(1, (Date.now() - t0) / Math.max(1, expected.durationMs))), POLL_MS)
    try {
      return await run()
    } finally {
      clearInterval(timer)
    }
  }
  const expectedPackets = expected
  const received = async () => (await control.request(serverId, 'verbs.counters', undefined, 2000)).pktsReceived
  let base: number
  try {
    base = await received()
  } catch {
    return run()
  }
  let polling = false
  const timer = setInterval(() => {
    if (polling) return
    polling = true
    received()
      .then((v) => onFraction(Math.min(1, (v - base) / Math.max(1, expectedPackets))))
      .catch(() => {})
      .finally(() => (polling = false))
  }, POLL_MS)
  try {
    return await run()
  } finally {
    clearInterval(timer)
  }
}
