/**
 * Text and JSON forms of checker results: one line per checker
 * (`PASS lost-write: 12,000 words, 0 anomalies`), then for a failing one its
 * anomalies with their evidence, one operation a line: op id, client, QP, op,
 * MR and offset, posted→completed µs, status, values in hex.
 */

import { fullWords } from './word-index.ts'
import { wordValue, type HistoryOp } from './history.ts'
import { num, type Anomaly, type CheckResult } from './result.ts'

function hex(v: bigint): string {
  return `0x${v.toString(16)}`
}

/** The values of `op` that matter, for word `word` when the anomaly is about one. */
function opValues(op: HistoryOp, word: number | undefined): string {
  switch (op.op) {
    case 'write': {
      const f = fullWords(op.offset, op.length)
      const w = word !== undefined && word >= f.first && word <= f.last ? word : f.first
      return f.last >= f.first ? `wrote[${w}]=${hex(wordValue(op.id, w))}` : ''
    }
    case 'read': {
      if (!op.words) return ''
      const i = word !== undefined ? word - op.offset / 8 : 0
      const v = op.words[i]
      return v === undefined ? `${num(op.words.length)} words` : `read[${op.offset / 8 + i}]=${hex(v)}`
    }
    case 'fetchAdd':
      return [`add=${hex(op.value ?? 0n)}`, op.result !== undefined ? `result=${hex(op.result)}` : ''].filter(Boolean).join(' ')
    case 'cmpSwap':
      return [`compare=${hex(op.compare ?? 0n)}`, `swap=${hex(op.value ?? 0n)}`, op.result !== undefined ? `result=${hex(op.result)}` : ''].filter(Boolean).join(' ')
    default:
      return ''
  }
}

/** One evidence line: `op 17 c1 qp 0x11 write mr0@s1+0x40 (64 B) 120→340 µs SUCCESS wrote[8]=0x…`. */
export function formatOp(op: HistoryOp, word?: number): string {
  const done = op.completedUs === undefined ? '…' : String(Math.round(op.completedUs))
  const times = `${Math.round(op.postedUs)}→${done} µs`
  const twice = op.completions > 1 ? ` ×${op.completions}` : ''
  const vals = opValues(op, word)
  return `op ${op.id} ${op.client} qp 0x${op.qpn.toString(16)} ${op.op} ${op.mr}@${op.server}+0x${op.offset.toString(16)} (${num(op.length)} B) ${times} ${op.status}${twice}${vals ? ` ${vals}` : ''}`
}

/** The lines of one anomaly: kind and message, values, then its operations. */
export function formatAnomaly(a: Anomaly, indent = '  ', label = ''): string[] {
  const lines = [`${indent}${label}${a.kind}${a.word !== undefined ? ` (word ${a.word}${a.mr ? ` of ${a.mr}` : ''})` : ''}: ${a.message}`]
  if (a.values && Object.keys(a.values).length) {
    lines.push(`${indent}  values: ${Object.entries(a.values).map(([k, v]) => `${k}=${hex(v)}`).join(' ')}`)
  }
  for (const op of a.ops) lines.push(`${indent}  ${formatOp(op, a.word)}`)
  return lines
}

/** All results as text: a PASS/FAIL line each, the evidence under a FAIL, and notes. */
export function formatResults(results: CheckResult[]): string {
  const lines: string[] = []
  for (const r of results) {
    lines.push(`${r.ok ? 'PASS' : 'FAIL'} ${r.name}: ${r.summary}`)
    for (const a of r.anomalies) lines.push(...formatAnomaly(a))
    const total = r.counts?.anomalies ?? r.anomalies.length
    if (total > r.anomalies.length) lines.push(`  … and ${num(total - r.anomalies.length)} more anomalies`)
    const notes = r.notes ?? []
    for (const n of notes) lines.push(...formatAnomaly(n, '  ', 'note '))
    // A note kind's total is in counts under its name ('unflushed'), when the checker counts it.
    const kinds = new Set(notes.map((n) => n.kind))
    const totalNotes = [...kinds].reduce((sum, k) => sum + (r.counts?.[k] ?? notes.filter((n) => n.kind === k).length), 0)
    if (totalNotes > notes.length) lines.push(`  … and ${num(totalNotes - notes.length)} more notes`)
  }
  return lines.join('\n')
}

/** Results as plain JSON (bigints as hex strings), for `--json` and reports. */
export function resultsToJSON(results: CheckResult[]): unknown {
  return JSON.parse(JSON.stringify(results, (_k, v: unknown) => (typeof v === 'bigint' ? hex(v) : v)))
}
