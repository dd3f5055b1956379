/**
 * Helpers for the tests of the shipped examples (nodes/examples/): run an
 * example's own configuration through the real CLI (`rdma-emu up --json -c
 * nodes/examples/NAME.config.json` with a temporary run directory) to its
 * end, and read what each program printed to `<runDir>/<id>.out`: the one
 * JSON line of results every example prints, and its text.
 */
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Test } from 'tap'
import { reapAfter, ROOT, runCli, tempDir, waitGone, type CliResult } from '../cluster-helpers.ts'

export interface ExampleRun extends CliResult {
  runDir: string
  /** Wall time of the whole `up`, in ms. */
  ms: number
  /** The JSON lines `up --json` printed. */
  events: Array<Record<string, unknown>>
  /** PIDs of the node processes `up` reported. */
  pids: number[]
  /** Node processes still alive after `up` exited (waited for a while): must be none. */
  leftBehind: number[]
  /** What each node's program printed (`<runDir>/<id>.out`), by node id. */
  out: Record<string, string>
  /** Each node's JSON result line (`{"example": ...}`), by node id. */
  results: Record<string, Record<string, unknown>>
}

/** The shipped configuration file `nodes/examples/<name>`. */
export function exampleConfig(name: string): string {
  return join(ROOT, 'nodes', 'examples', name)
}

/** Run `rdma-emu up --json -c nodes/examples/<config>` until it exits by itself. */
export async function runExample(t: Test, config: string, timeoutMs = 30_000): Promise<ExampleRun> {
  const runDir = join(tempDir(t, 'rdma-emu-example-'), 'run')
  reapAfter(t, runDir)
  const started = Date.now()
  const r = await runCli(['up', '--json', '-c', exampleConfig(config), '--run-dir', runDir], { timeoutMs })
  const ms = Date.now() - started
  const events = r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>)
  const up = events.find((e) => e.event === 'up') as { nodes?: Array<{ id: string; pid: number }> } | undefined
  const nodes = up?.nodes ?? []
  const out: Record<string, string> = {}
  const results: Record<string, Record<string, unknown>> = {}
  for (const { id } of nodes) {
    const file = join(runDir, `${id}.out`)
    out[id] = existsSync(file) ? readFileSync(file, 'utf8') : ''
    const line = out[id].split('\n').find((l) => l.startsWith('{"example"'))
    if (line) results[id] = JSON.parse(line) as Record<string, unknown>
  }
  const pids = nodes.map((n) => n.pid)
  return { ...r, runDir, ms, events, pids, leftBehind: await waitGone(pids, 10_000), out, results }
}
