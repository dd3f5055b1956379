/**
 * Helpers for `rdma-emu run` tests: write a scenario (and the two-node test
 * configuration) into a temporary directory, run the CLI on them, and check
 * that no node process of the run is left behind.
 */
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import type { Test } from 'tap'
import { pidsMatching, reapAfter, runCli, tempDir, waitGone, writeConfig, type CliResult } from '../cluster-helpers.ts'
import { ONE_CLIENT_CONFIG } from './bench-run.ts'

export interface ScenarioRun extends CliResult {
  runDir: string
  /** Parsed stdout, with --json. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON documents (schemas, parsed output) are untyped until checked
  json?: any
}

/**
 * Run `rdma-emu run SCENARIO ARGS` on the one-server, one-client test
 * configuration. `scenario` is a path, a shipped name, or an object written
 * to a file first.
 */
export async function runScenario(t: Test, scenario: string | object, args: string[] = [], o: { config?: unknown; timeoutMs?: number } = {}): Promise<ScenarioRun> {
  const dir = tempDir(t)
  const config = writeConfig(dir, o.config ?? ONE_CLIENT_CONFIG)
  const file = typeof scenario === 'string' ? scenario : writeConfig(dir, scenario, 'scenario.json')
  const runDir = join(dir, 'run')
  reapAfter(t, runDir)
  const r = await runCli(['run', file, '-c', config, '--run-dir', runDir, ...args], { timeoutMs: o.timeoutMs ?? 90_000 })
  t.same(await waitGone(pidsMatching(runDir), 3000), [], 'no node process left behind')
  let json: unknown
  if (args.includes('--json') && r.stdout.trim().startsWith('{')) json = JSON.parse(r.stdout)
  return { ...r, runDir, json }
}

/** The run directory was never made: the input was refused before any cluster started. */
export function nothingStarted(r: ScenarioRun): boolean {
  return !existsSync(r.runDir)
}
