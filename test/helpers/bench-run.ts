/**
 * Start an `rdma-emu bench` child process now, on its own config and run
 * directory; the returned function awaits it and checks that no node process
 * of the run is left behind. Several runs of one test file go in parallel.
 */
import { join } from 'node:path'
import type { Test } from 'tap'
import { pidsMatching, reapAfter, runCli, tempDir, waitGone, writeConfig, type CliResult } from '../cluster-helpers.ts'

/** One server and one client node on loopback. */
export const ONE_CLIENT_CONFIG = {
  name: 'bench-test',
  logLevel: 'warn',
  nodes: [
    { id: 'server0', role: 'server', host: '127.0.0.1', port: 0 },
    { id: 'client0', role: 'client', host: '127.0.0.1', port: 0 },
  ],
}

export function startBench(t: Test, args: string[], config: unknown = ONE_CLIENT_CONFIG, cwd?: string): (st: Test) => Promise<CliResult> {
  const dir = tempDir(t)
  const file = writeConfig(dir, config)
  const runDir = join(dir, 'run')
  reapAfter(t, runDir)
  const run = runCli(['bench', ...args, '-c', file, '--run-dir', runDir], { timeoutMs: 60000, ...(cwd !== undefined ? { cwd } : {}) })
  return async (st: Test) => {
    const r = await run
    st.same(await waitGone(pidsMatching(runDir), 3000), [], 'no node process left behind')
    return r
  }
}
