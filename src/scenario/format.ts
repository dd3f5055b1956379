/**
 * A scenario's results as text: one row per policy run, with the columns the
 * scenario's steps make meaningful (a truncate column when it truncates,
 * fault counters when it injects faults ...), then what went wrong.
 */
import { formatResults } from '../check/index.ts'
import { formatTable } from '../report/table.ts'
import type { ExpectationResult, Metrics } from './metrics.ts'
import type { PolicyRun, ScenarioResult } from './run-scenario.ts'
import type { Scenario } from './types.ts'

interface Column {
  header: string
  right?: boolean
  cell(r: PolicyRun, m: Metrics): string
}

/** Checker notes printed per checker (all of them are in checks.json). */
const NOTES_SHOWN = 3

const n = (v: number | string | undefined): string => (v === undefined ? '-' : String(v))

/** The registration outcome, short: pinned, ODP, ODP (policy), EOPNOTSUPP→ODP, refused EACCES. */
export function registrationLabel(v: number | string | undefined): string {
  if (v === undefined) return '-'
  const s = String(v)
  if (s === 'odp') return 'ODP'
  if (s === 'odp-by-policy') return 'ODP (policy)'
  const fallback = /^refused (\w+), odp$/.exec(s)
  if (fallback) return `${fallback[1]}→ODP`
  return s
}

function columns(sc: Scenario, runs: readonly PolicyRun[]): Column[] {
  const has = (kind: string) => sc.steps.some((s) => s.do === kind)
  const cols: Column[] = [{ header: 'POLICY', cell: (r) => r.policy }]
  if (has('registerFile')) cols.push({ header: 'FILE MR', cell: (_r, m) => registrationLabel(m.registration) })
  for (const op of ['truncate', 'punch', 'unlink'] as const) {
    if (!has(op)) continue
    cols.push({ header: op.toUpperCase(), cell: (_r, m) => n(m[`${op}Result`]) })
    cols.push({ header: 'MS', right: true, cell: (_r, m) => n(m[`${op}Ms`]) })
  }
  cols.push({ header: 'CORRUPT B', right: true, cell: (_r, m) => n(m.corruptBytes) })
  if (has('registerFile')) cols.push({ header: 'VICTIM', cell: (r) => (r.victims.length ? r.victims.map((v) => v.file).join(',') : '-') })
  if (has('verify')) cols.push({ header: 'MISMATCH B', right: true, cell: (_r, m) => n(m.mismatchBytes) })
  if (has('traffic')) {
    cols.push({ header: 'RDMA OPS', right: true, cell: (_r, m) => n(m.rdmaOps) })
    cols.push({
      header: 'RDMA ERRORS',
      cell: (_r, m) => (m.rdmaOps === undefined ? '-' : m.rdmaErrors ? `${m.rdmaErrors} ${m.rdmaFirstError}` : m.rdmaStopped ? '0 (stopped)' : '0'),
    })
    cols.push({ header: 'MiB/s', right: true, cell: (_r, m) => n(m.bandwidthMiBs) })
  }
  if (runs.some((r) => r.policy === 'layout-lease') || has('lease')) cols.push({ header: 'LEASE BRK/REV', cell: (_r, m) => `${n(m.leaseBreaks)}/${n(m.leaseRevocations)}` })
  cols.push({ header: 'PINS ACQ/REL', cell: (_r, m) => `${n(m.pinsAcquired)}/${n(m.pinsReleased)}` })
  if (has('faults')) {
    cols.push({ header: 'PACKETS', right: true, cell: (_r, m) => n(m.packets) })
    cols.push({ header: 'DROP/DUP/REORD', cell: (_r, m) => `${n(m.faultsDropped)}/${n(m.faultsDuplicated)}/${n(m.faultsReordered)}` })
    cols.push({ header: 'RETRANSMIT', right: true, cell: (_r, m) => n(m.retransmissions) })
  }
  if (runs.some((r) => r.checks.length > 0)) {
    cols.push({ header: 'CHECKS', cell: (r) => (r.checks.every((c) => c.ok) ? `ok ${r.checks.length}/${r.checks.length}` : `FAIL ${r.checks.filter((c) => !c.ok).map((c) => c.name).join(',')}`) })
  }
  if (sc.expect.length > 0 || runs.some((r) => r.problems.length > 0)) {
    cols.push({ header: 'EXPECT', cell: (r) => verdict(r) })
  }
  return cols
}

function verdict(r: PolicyRun): string {
  if (r.problems.length > 0) return 'PROBLEM'
  const broke = r.expectations.filter((e) => !e.held).length
  return broke ? `FAILED ${broke}/${r.expectations.length}` : `ok ${r.expectations.length}/${r.expectations.length}`
}

/** The comparison table (only the columns named in `only`, when given). */
export function formatRuns(sc: Scenario, runs: readonly PolicyRun[], only?: readonly string[]): string {
  const cols = columns(sc, runs).filter((c) => !only || only.includes(c.header))
  const rows = runs.map((r) => cols.map((c) => c.cell(r, r.metrics)))
  return formatTable(cols.map((c) => c.header), rows, cols.flatMap((c, i) => (c.right ? [i] : [])))
}

export function describeExpectation(e: ExpectationResult): string {
  const measured = e.measured === undefined ? 'not measured' : `measured ${JSON.stringify(e.measured)}`
  return `${e.policy}: ${e.metric} ${e.op} ${JSON.stringify(e.value)} (${measured})${e.why && !e.held ? ` - ${e.why}` : ''}`
}

/** Lines under the table: notes, problems, and every expectation (or only the broken ones). */
export function formatFindings(result: ScenarioResult, o: { allExpectations?: boolean } = {}): string[] {
  const lines: string[] = []
  for (const r of result.runs) {
    for (const note of r.notes) lines.push(`note: ${r.policy}: ${note}`)
    for (const p of r.problems) lines.push(`PROBLEM: ${r.policy}: ${p}`)
  }
  for (const r of result.runs) {
    if (r.checks.length === 0) continue
    lines.push(`checkers (${r.policy}):`)
    // Notes (unflushed writes ...) are counted in the summary: three are shown, the rest are in checks.json.
    const shown = r.checks.map((c) => (c.notes && c.notes.length > NOTES_SHOWN ? { ...c, notes: c.notes.slice(0, NOTES_SHOWN) } : c))
    for (const line of formatResults(shown).split('\n')) lines.push(`  ${line}`)
  }
  const all = result.runs.flatMap((r) => r.expectations)
  const broken = all.filter((e) => !e.held)
  if (o.allExpectations) for (const e of all) lines.push(`${e.held ? 'held  ' : 'BROKE '} ${describeExpectation(e)}`)
  else for (const e of broken) lines.push(`BROKE  ${describeExpectation(e)}`)
  if (all.length > 0) lines.push(`${all.length - broken.length} of ${all.length} expectations held`)
  return lines
}
