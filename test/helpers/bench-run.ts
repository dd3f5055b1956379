/**
 * Start an `rdma-emu bench` child process now, on its own config and run
 * directory; the returned function awaits it and checks that no node process
 * of the run is left behind. Several runs of one test file go in parallel.
 */
import { join } from 'node:path'
import type { Test } from 'tap'
import { pidsMatching, reapAfter, runCli, tempDir, waitGone, writeConfig, type CliResult } from '../cluster-helpers.ts'

/**
 * One server and one client node on loopback. timeScale 10: the QPs' ACK
 * timer (timeout 14: 67 ms, seven retries) becomes 0.67 s, so a bench file
 * running several clusters at once on two busy cores does not run out of
 * retries in a stall: these tests check bench's figures and output, and the
 * RC timers are tested in the engine tests.
 */
export const ONE_CLIENT_CONFIG = {
  name: 'bench-test',
  logLevel: 'warn',
  timeScale: 10,
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
