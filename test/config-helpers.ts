/** Run `rdma-emu validate` on a config and return exit code and stderr lines. */
import type { Test } from 'tap'
import { runCli, tempDir, writeConfig } from './cluster-helpers.ts'

/** The default cluster with `edit` applied to its raw JSON. */
export function defaultWith(edit: (cfg: { nodes: Array<Record<string, unknown>> } & Record<string, unknown>) => void): unknown {
  const cfg = {
    nodes: [
      { id: 'server0', role: 'server', port: 0 },
      { id: 'client0', role: 'client', port: 0 },
      { id: 'client1', role: 'client', port: 0 },
    ] as Array<Record<string, unknown>>,
  }
  edit(cfg)
  return cfg
}

export async function validate(t: Test, config: unknown, name = 'cluster.config.json'): Promise<{ code: number | null; lines: string[]; stderr: string }> {
  const dir = tempDir(t)
  writeConfig(dir, config, name)
  // Run from the config's directory so messages carry the plain file name.
  const r = await runCli(['validate', '-c', name], { cwd: dir })
  // Line 1 is the 'invalid configuration (N problems):' header.
  return { code: r.code, lines: r.stderr.trim().split('\n').slice(1), stderr: r.stderr }
}
