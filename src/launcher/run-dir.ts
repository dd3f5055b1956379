/** Run directories: ./runs/<timestamp>/ holding per-node logs and data. */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { serializeConfig, type ClusterConfig } from '../config/defaults.ts'

/** ./runs/20240131-142501-123 (local time), unique per call within a process. */
export function defaultRunDir(base = 'runs'): string {
  const d = new Date()
  const p = (n: number, w = 2) => String(n).padStart(w, '0')
  const stamp = `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}-${p(d.getMilliseconds(), 3)}`
  return join(base, stamp)
}

/** Create the run directory and record the configuration in use; returns its absolute path. */
export function prepareRunDir(dir: string, config: ClusterConfig): { runDir: string; configPath: string } {
  const runDir = resolve(dir)
  mkdirSync(runDir, { recursive: true })
  // Nodes read this copy (defaults filled, still schema-valid), so the run
  // directory says exactly what ran.
  const configPath = join(runDir, 'cluster.config.json')
  writeFileSync(configPath, serializeConfig(config))
  return { runDir, configPath }
}
