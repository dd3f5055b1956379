/**
 * Helpers for the fault-injection run tests: the two-client configuration,
 * and readers of what a run leaves in its policy directory (history.jsonl,
 * checks.json, faults.json, the report).
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { HistoryOp } from '../../src/check/history.ts'

/** One server and two clients, on loopback, quiet. */
export const TWO_CLIENT_CONFIG = {
  name: 'fault-run-test',
  logLevel: 'warn',
  nodes: [
    { id: 'server0', role: 'server', host: '127.0.0.1', port: 0, server: { workers: 2 } },
    { id: 'client0', role: 'client', host: '127.0.0.1', port: 0 },
    { id: 'client1', role: 'client', host: '127.0.0.1', port: 0 },
  ],
}

/** A shipped scenario's JSON. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON documents are untyped until checked
export function shipped(name: string): any {
  return JSON.parse(readFileSync(new URL(`../../scenarios/${name}.json`, import.meta.url), 'utf8'))
}

/** The history a policy run recorded (hex strings back to bigints). */
export function readHistory(policyDir: string): HistoryOp[] {
  const text = readFileSync(join(policyDir, 'history.jsonl'), 'utf8').trim()
  return text.split('\n').map((line) => JSON.parse(line, (_k, v: unknown) => (typeof v === 'string' && /^0x[0-9a-f]+$/.test(v) ? BigInt(v) : v)) as HistoryOp)
}

export interface CheckJson {
  name: string
  ok: boolean
  summary: string
  anomalies: Array<{ kind: string; message: string }>
  notes?: Array<{ kind: string; message: string }>
  counts?: Record<string, number>
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON documents are untyped until checked
export function readJson(file: string): any {
  return JSON.parse(readFileSync(file, 'utf8'))
}
