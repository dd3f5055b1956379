/**
 * The run's timeline: steps with `at` start at their time beside the steps
 * that run in order, and faults with a duration end themselves. Every task
 * is tracked, so the run waits for all of them (settle) before it checks,
 * and a task that fails becomes a problem of the run, not an unhandled
 * rejection. cancel() drops what has not started (the run was cut short).
 */
export class Timeline {
  private readonly pending = new Set<Promise<void>>()
  private readonly timers = new Set<NodeJS.Timeout>()
  readonly problems: string[] = []
  private readonly t0: number

  constructor(t0 = performance.now()) {
    this.t0 = t0
  }

  /** Run `fn` at `atMs` from the timeline's start (at once when that is past). */
  at(atMs: number, what: string, fn: () => Promise<unknown>): void {
    this.later(Math.max(0, atMs - (performance.now() - this.t0)), fn, what)
  }

  /** Run `fn` `ms` from now. */
  later(ms: number, fn: () => Promise<unknown>, what = 'timed task'): void {
    let settle!: () => void
    const done = new Promise<void>((r) => (settle = r))
    this.pending.add(done)
    const timer = setTimeout(() => {
      this.timers.delete(timer)
      fn().then(
        () => undefined,
        (err: unknown) => {
          this.problems.push(`${what}: ${err instanceof Error ? err.message : String(err)}`)
        },
      ).finally(() => {
        this.pending.delete(done)
        settle()
      })
    }, ms)
    this.timers.add(timer)
    // A timer cancelled before it fires must not leave its promise pending.
    ;(timer as NodeJS.Timeout & { settle?: () => void }).settle = () => {
      this.pending.delete(done)
      settle()
    }
  }

  /** Resolves when every task scheduled so far (and those they schedule) has run. */
  async settle(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending])
  }

  /** Drop the tasks that have not started yet. */
  cancel(): void {
    for (const t of this.timers) {
      clearTimeout(t)
      ;(t as NodeJS.Timeout & { settle?: () => void }).settle?.()
    }
    this.timers.clear()
  }
}
