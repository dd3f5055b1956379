/**
 * The end of a run, the Jepsen way: read the final memory of every MR a
 * checked stream touched, run the checkers (src/check/) over the history
 * and the final state, and write what a person or a script looks at into
 * the run directory: history.jsonl, faults.json, checks.json, and the
 * report (timeline.svg, report.html, series.json).
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Policy } from '../config/defaults.ts'
import { readMr } from './checked-traffic.ts'
import type { Metrics, NodeReadings } from './metrics.ts'
import type { RunContext } from './run-context.ts'
import type { Scenario } from './types.ts'

/** MR name -> its bytes at the end, and before the run wrote to it. */
export type FinalMemories = Map<string, { server: string; initial: Uint8Array; bytes: Uint8Array; layoutChanged: boolean }>

/** Read the final memory of every MR a checked stream touched (before clean-up deregisters them). */
export async function readFinalMemories(ctx: RunContext): Promise<FinalMemories> {
  const out: FinalMemories = new Map()
  const touched = new Set(ctx.history.map((op) => op.mr))
  const changedFiles = new Set(ctx.measures.layoutOps.map((l) => l.file))
  for (const name of touched) {
    const m = ctx.mrs.get(name)
    if (!m?.initial) continue
    if (ctx.faults.down.has(m.server)) {
      ctx.notes.push(`final memory of MR ${name} not read: its server ${m.server} is down`)
      continue
    }
    const bytes = await readMr(ctx, m)
    if (!bytes) {
      ctx.notes.push(`final memory of MR ${name} not read: it was anonymous memory on a server that was killed`)
      continue
    }
    out.set(name, { server: m.server, initial: m.initial, bytes, layoutChanged: m.file !== undefined && changedFiles.has(m.file.name) })
  }
  return out
}
