/**
 * A strict parser of the Prometheus text exposition format (version 0.0.4),
 * written from the format's specification (prometheus.io, "Exposition
 * formats", text-based format), for the metrics tests. It refuses what the
 * spec forbids and what a lax parser would let through:
 *
 * - lines end with '\n', the last one too; blank lines are ignored;
 * - `# HELP name text` and `# TYPE name type` at most once per metric name,
 *   TYPE before the metric's first sample; type one of counter, gauge,
 *   histogram, summary, untyped; other `#` lines are comments;
 * - samples `name{label="value",...} value [timestamp]`: names
 *   [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]* (no
 *   `__` prefix), values with only the \\, \" and \n escapes, no label twice;
 * - a value is a Go float (NaN, +Inf, -Inf included), a timestamp an integer;
 * - all lines of one metric family together: a family seen again after
 *   another one started is an error; no sample (name and label set) twice;
 * - a counter's samples are numbers >= 0 (never NaN).
 *
 * Histogram and summary families take their _bucket / _sum / _count samples.
 */

export interface Sample {
  name: string
  labels: Record<string, string>
  value: number
  timestampMs?: number
}

export interface Family {
  name: string
  type: 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped'
  help?: string
  samples: Sample[]
}

export class PromParseError extends Error {
  constructor(readonly line: number, message: string) {
    super(`line ${line}: ${message}`)
    this.name = 'PromParseError'
  }
}

const METRIC = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped'])
const FLOAT = /^[-+]?(\d+\.?\d*([eE][-+]?\d+)?|\.\d+([eE][-+]?\d+)?)$/

function parseValue(raw: string, line: number): number {
  if (raw === 'NaN') return NaN
  if (raw === '+Inf' || raw === 'Inf') return Infinity
  if (raw === '-Inf') return -Infinity
  if (!FLOAT.test(raw)) throw new PromParseError(line, `bad sample value ${JSON.stringify(raw)}`)
  return Number(raw)
}

/** The family a sample name belongs to: itself, or for histograms and summaries its name without the suffix. */
function familyOf(name: string, families: Map<string, Family>): string {
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (!name.endsWith(suffix)) continue
    const base = name.slice(0, -suffix.length)
    const f = families.get(base)
    if (f && (f.type === 'histogram' || f.type === 'summary')) return base
  }
  return name
}

/** Parse `name{labels} value [ts]` starting at the line's beginning. */
function parseSample(text: string, line: number): Sample {
  let i = 0
  while (i < text.length && text[i] !== '{' && text[i] !== ' ' && text[i] !== '\t') i++
  const name = text.slice(0, i)
  if (!METRIC.test(name)) throw new PromParseError(line, `bad metric name ${JSON.stringify(name)}`)
  const labels: Record<string, string> = {}
  if (text[i] === '{') {
    i++
    for (;;) {
      if (text[i] === '}') break
      let j = i
      while (j < text.length && text[j] !== '=') j++
      const label = text.slice(i, j).trim()
      if (!LABEL.test(label) || label.startsWith('__')) throw new PromParseError(line, `bad label name ${JSON.stringify(label)}`)
      if (label in labels) throw new PromParseError(line, `label ${label} given twice`)
      if (text[j + 1] !== '"') throw new PromParseError(line, `label ${label}: expected a quoted value`)
      let v = ''
      let k = j + 2
      for (; k < text.length && text[k] !== '"'; k++) {
        if (text[k] === '\\') {
          const e = text[++k]
          if (e === '\\') v += '\\'
          else if (e === '"') v += '"'
          else if (e === 'n') v += '\n'
          else throw new PromParseError(line, `label ${label}: bad escape \\${e ?? ''}`)
        } else {
          v += text[k]
        }
      }
      if (text[k] !== '"') throw new PromParseError(line, `label ${label}: unterminated value`)
      labels[label] = v
      i = k + 1
      if (text[i] === ',') i++
      else if (text[i] !== '}') throw new PromParseError(line, `expected ',' or '}' after label ${label}`)
    }
    i++
  }
  const rest = text.slice(i)
  if (!/^[ \t]/.test(rest)) throw new PromParseError(line, 'expected a space before the value')
  const parts = rest.trim().split(/[ \t]+/)
  if (parts.length < 1 || parts.length > 2 || parts[0] === '') throw new PromParseError(line, 'expected a value and at most a timestamp')
  const value = parseValue(parts[0]!, line)
  if (parts.length === 2 && !/^-?\d+$/.test(parts[1]!)) throw new PromParseError(line, `bad timestamp ${JSON.stringify(parts[1])}`)
  return { name, labels, value, ...(parts.length === 2 ? { timestampMs: Number(parts[1]) } : {}) }
}

function seriesKey(s: Sample): string {
  return `${s.name}{${Object.keys(s.labels).sort().map((k) => `${k}=${JSON.stringify(s.labels[k])}`).join(',')}}`
}

/** Parse an exposition; throws PromParseError naming the first line that breaks the format. */
export function parsePromText(text: string): Map<string, Family> {
  if (text.length > 0 && !text.endsWith('\n')) throw new PromParseError(text.split('\n').length, 'the last line does not end with a newline')
  const families = new Map<string, Family>()
  const closed = new Set<string>()
  const seen = new Set<string>()
  const typed = new Set<string>()
  let current: string | undefined
  const enter = (name: string, line: number): Family => {
    if (current !== name) {
      if (closed.has(name)) throw new PromParseError(line, `metric ${name} appears again after other metrics (its lines must be together)`)
      if (current !== undefined) closed.add(current)
      current = name
    }
    let f = families.get(name)
    if (!f) families.set(name, (f = { name, type: 'untyped', samples: [] }))
    return f
  }
  const lines = text.split('\n')
  lines.pop()
  lines.forEach((raw, idx) => {
    const line = idx + 1
    if (raw.trim() === '') return
    if (raw.startsWith('#')) {
      const m = /^#[ \t]+(HELP|TYPE)[ \t]+(\S+)(?:[ \t]+(.*))?$/.exec(raw)
      if (!m) return // a comment
      const [, kind, name, arg] = m as unknown as [string, 'HELP' | 'TYPE', string, string | undefined]
      if (!METRIC.test(name)) throw new PromParseError(line, `bad metric name ${JSON.stringify(name)} in ${kind}`)
      const f = enter(name, line)
      if (kind === 'HELP') {
        if (f.help !== undefined) throw new PromParseError(line, `second HELP for ${name}`)
        f.help = (arg ?? '').replace(/\\(\\|n)/g, (_m, e: string) => (e === 'n' ? '\n' : '\\'))
      } else {
        if (f.samples.length > 0) throw new PromParseError(line, `TYPE for ${name} after its samples`)
        if (typed.has(name)) throw new PromParseError(line, `second TYPE for ${name}`)
        if (!TYPES.has(arg ?? '')) throw new PromParseError(line, `unknown type ${JSON.stringify(arg)} for ${name}`)
        f.type = arg as Family['type']
        typed.add(name)
      }
      return
    }
    const s = parseSample(raw, line)
    const f = enter(familyOf(s.name, families), line)
    const key = seriesKey(s)
    if (seen.has(key)) throw new PromParseError(line, `sample ${key} given twice`)
    seen.add(key)
    if (f.type === 'counter' && !(s.value >= 0)) throw new PromParseError(line, `counter ${s.name} has value ${s.value} (expected a number >= 0)`)
    f.samples.push(s)
  })
  return families
}

/** The value of the one sample of `family` whose labels include `labels` (throws when none or several match). */
export function sampleValue(families: Map<string, Family>, family: string, labels: Record<string, string>): number {
  const f = families.get(family)
  if (!f) throw new Error(`no metric family ${family}`)
  const hits = f.samples.filter((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v))
  if (hits.length !== 1) throw new Error(`${family}${JSON.stringify(labels)}: ${hits.length} samples match`)
  return hits[0]!.value
}
