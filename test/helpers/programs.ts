/**
 * Helpers for tests of programs run as cluster hosts: write a program (an
 * .mjs file that imports the library by the absolute URL of the build's
 * dist/src/index.js, which `npm test` builds first: node processes have no
 * TypeScript loader), run `rdma-emu up
 * --json` on a configuration to its end, and find what it started.
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { Test } from 'tap'
import { reapAfter, ROOT, runCli, tempDir, waitGone, writeConfig, type CliResult } from '../cluster-helpers.ts'

/** The library's entry, for `import { ... } from '${API}'` in a test program. */
export const API = pathToFileURL(join(ROOT, 'dist', 'src', 'index.js')).href

/** Write program `name` into `dir`; `__API__` in its text becomes the library's URL. Returns its path. */
export function writeProgram(dir: string, name: string, text: string): string {
  const file = join(dir, name)
  writeFileSync(file, text.replaceAll('__API__', API))
  return file
}

export interface UpRun extends CliResult {
  dir: string
  runDir: string
  /** The JSON lines `up --json` printed. */
  events: Array<Record<string, unknown>>
  /** PIDs of the node processes `up` reported (empty when it never got that far). */
  pids: number[]
  /** Node processes still alive after `up` exited (waited for a while): must be none. */
  leftBehind: number[]
}

/** A temp dir for a test's programs and run. */
export function programDir(t: Test): string {
  return tempDir(t, 'rdma-emu-program-')
}

/** Run `rdma-emu up --json` on `config` (written into `dir`) until it exits by itself. */
export async function runUp(t: Test, dir: string, config: unknown, timeoutMs = 60_000): Promise<UpRun> {
  const cfg = writeConfig(dir, config)
  const runDir = join(dir, 'run')
  reapAfter(t, runDir)
  const r = await runCli(['up', '--json', '-c', cfg, '--run-dir', runDir], { timeoutMs })
  const events = r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>)
  const up = events.find((e) => e.event === 'up') as { nodes?: Array<{ pid: number }> } | undefined
  const pids = (up?.nodes ?? []).map((n) => n.pid)
  return { ...r, dir, runDir, events, pids, leftBehind: await waitGone(pids, 10_000) }
}
