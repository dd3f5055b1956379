/**
 * The HTML report of a fault-injection run: one self-contained file (no
 * network) a person opens in a browser. It shows the run (title, scenario,
 * policy, seed), the checkers' verdicts with their evidence, the timeline
 * drawn with uPlot (inlined, read from the installed `uplot` package), the
 * same timeline as a static SVG figure, the fault and event logs and each
 * stream's totals. The series JSON is embedded for scripts.
 *
 * The page is also well-formed XML (polyglot markup: scripts and styles in
 * CDATA sections, JSON with `<`, `>` and `&` escaped), so a strict parser
 * accepts its structure.
 */
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import type { CheckerResult, RunReportInput } from './run-report-types.ts'
import { CHART_SCRIPT } from './html-chart-script.ts'
import { throughputTitle, type RunSeries, type ThroughputUnit } from './series.ts'
import { xmlEscape } from './svg-kit.ts'
import { BAND_OPACITY, eventColor, faultColor, fmtSeconds, streamColor } from './timeline-svg.ts'

/** uPlot's browser build and stylesheet, as text to inline. */
export interface ChartLibrary {
  js: string
  css: string
}

const require = createRequire(import.meta.url)

/**
 * uPlot's IIFE build and CSS from the installed `uplot` package (a runtime
 * dependency, so the packed install has it), or undefined when it cannot be
 * found: the report then shows the SVG figure only.
 */
export function loadChartLibrary(): ChartLibrary | undefined {
  try {
    return {
      js: readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8'),
      css: readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8'),
    }
  } catch {
    return undefined
  }
}

/** Options of `renderHtmlReport`. */
export interface HtmlReportOptions {
  /** What the chart plots: operations/s (default) or MiB/s. */
  unit?: ThroughputUnit
  /** The charting library to inline; default `loadChartLibrary()`; null for none (SVG only). */
  chartLibrary?: ChartLibrary | null
}

/** Text placed in a CDATA section inside a script or style element. */
function cdata(text: string, what: string): string {
  if (text.includes(']]>') || /<\/(script|style)/i.test(text)) throw new Error(`${what} cannot be inlined: it contains "]]>" or a closing tag`)
  return `/*<![CDATA[*/\n${text}\n/*]]>*/`
}

/** JSON for a script element: valid JSON, and no raw `<`, `>` or `&` for the HTML or XML parser. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026')
}

const PAGE_CSS = `
body { font-family: sans-serif; margin: 1.5em auto; max-width: 1200px; padding: 0 1em; color: #222; }
h1 { margin-bottom: 0.2em; }
table { border-collapse: collapse; margin: 0.5em 0 1em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.verdict { font-size: 1.2em; font-weight: bold; }
.pass { color: #1a7f37; }
.fail { color: #c62828; }
section.checker { border-left: 4px solid #1a7f37; padding: 0.2em 0.8em; margin: 0.5em 0; }
section.checker.fail { border-left-color: #c62828; background: #fff5f5; }
section.checker h3 { margin: 0.2em 0; font-size: 1em; }
ul.evidence { margin: 0.3em 0; font-family: monospace; white-space: pre-wrap; }
.swatch { display: inline-block; width: 1.6em; height: 0.9em; margin-right: 0.4em; vertical-align: middle; border: 1px solid; }
.mark { display: inline-block; width: 1.6em; margin-right: 0.4em; vertical-align: middle; border-top: 2px dashed; }
ul.chart-legend { list-style: none; padding: 0; }
.chart { margin-bottom: 1.2em; }
figure { margin: 1em 0; }
figure svg { max-width: 100%; height: auto; }
`

/** The page, given the series and the SVG figure drawn from it. */
export function renderHtmlReport(input: RunReportInput, series: RunSeries, svg: string, opts: HtmlReportOptions = {}): string {
  const unit = opts.unit ?? 'ops'
  const lib = opts.chartLibrary === undefined ? loadChartLibrary() : opts.chartLibrary
  const e = xmlEscape
  const failed = input.checkers.filter((c) => !c.ok)
  const verdict = failed.length === 0 ? 'pass' : 'fail'
  const chartConfig = {
    title: 'Throughput per stream',
    unit,
    xTitle: `Time since the run's start (s), ${series.intervalMs} ms intervals`,
    yTitle: throughputTitle(unit),
    streamColors: series.streams.map((_, i) => streamColor(i)),
    faultColors: series.faults.map((f) => faultColor(f.kind)),
    eventColors: series.events.map((ev) => eventColor(ev.kind)),
    bandOpacity: BAND_OPACITY,
  }
  const out: string[] = []
  out.push('<!DOCTYPE html>')
  out.push('<html xmlns="http://www.w3.org/1999/xhtml" lang="en">')
  out.push('<head>')
  out.push('<meta charset="utf-8"/>')
  out.push('<meta name="viewport" content="width=device-width, initial-scale=1"/>')
  out.push(`<title>${e(input.title)}: run report</title>`)
  if (lib) out.push(`<style>${cdata(lib.css, 'uPlot CSS')}</style>`)
  out.push(`<style>${cdata(PAGE_CSS, 'page CSS')}</style>`)
  out.push('</head>')
  out.push('<body data-chart="pending">')
  out.push(`<h1>${e(input.title)}</h1>`)
  out.push(`<p class="verdict ${verdict}">${failed.length === 0 ? `All ${input.checkers.length} checkers passed` : `${failed.length} of ${input.checkers.length} checkers failed: ${e(failed.map((c) => c.name).join(', '))}`}</p>`)
  out.push('<table class="run-info"><tbody>')
  const info: Array<[string, string]> = [
    ['Scenario', input.scenario],
    ['Policy', input.policy],
    ['Seed', String(input.seed)],
    ['Time covered', `${fmtSeconds(series.startUs)} to ${fmtSeconds(series.endUs)}`],
    ['Interval', `${series.intervalMs} ms`],
    ['Operations in the history', String(input.ops.length)],
  ]
  for (const [k, v] of info) out.push(`<tr><th scope="row">${e(k)}</th><td>${e(v)}</td></tr>`)
  out.push('</tbody></table>')

  out.push('<h2>Checkers</h2>')
  for (const c of input.checkers) out.push(checkerSection(c))
  if (input.checkers.length === 0) out.push('<p>No checker ran.</p>')

  out.push('<h2>Timeline</h2>')
  out.push('<div id="chart" class="chart"></div>')
  out.push('<div id="chart-errors" class="chart"></div>')
  out.push('<ul class="chart-legend">')
  for (const f of series.faults) {
    const c = faultColor(f.kind)
    out.push(`<li data-fault-id="${e(f.id)}"><span class="swatch" style="background: ${c}33; border-color: ${c}"></span>${e(f.label)} (${e(f.kind)})</li>`)
  }
  for (const k of [...new Set(series.events.map((ev) => ev.kind))]) {
    out.push(`<li data-event-kind="${e(k)}"><span class="mark" style="border-color: ${eventColor(k)}"></span>${e(k)}</li>`)
  }
  out.push('</ul>')
  if (!lib) out.push('<p>The charting library (uPlot) was not found when the report was written: the static figure below is the chart.</p>')
  out.push('<figure id="static-chart">')
  out.push('<figcaption>The same timeline as a static figure (SVG, also in timeline.svg)</figcaption>')
  out.push(svg.replace(/^<\?xml[^>]*\?>\s*/, '').trimEnd())
  out.push('</figure>')

  out.push('<h2>Fault log</h2>')
  out.push(
    table(
      ['Start', 'End', 'Duration', 'Kind', 'Id', 'Fault'],
      series.faults.map((f) => [
        fmtSeconds(f.startUs),
        f.endUs === undefined ? 'end of run' : fmtSeconds(f.endUs),
        f.endUs === undefined ? '' : fmtSeconds(f.endUs - f.startUs),
        f.kind,
        f.id,
        f.label,
      ]),
      [0, 1, 2],
      'faults',
    ),
  )
  out.push('<h2>Events</h2>')
  out.push(table(['Time', 'Kind', 'Event'], series.events.map((ev) => [fmtSeconds(ev.atUs), ev.kind, ev.label]), [0], 'events'))
  out.push('<h2>Streams</h2>')
  out.push(
    table(
      ['Stream', 'Successful operations', 'Bytes', 'Errors', 'Retransmissions'],
      series.streams.map((s) => [s.id, String(s.totals.ops), String(s.totals.bytes), String(s.totals.errors), String(s.totals.retransmissions)]),
      [1, 2, 3, 4],
      'streams',
    ),
  )

  out.push(`<script type="application/json" id="series-data">${scriptJson(series)}</script>`)
  out.push(`<script type="application/json" id="chart-config">${scriptJson(chartConfig)}</script>`)
  if (lib) out.push(`<script>${cdata(lib.js, 'uPlot')}</script>`)
  out.push(`<script>${cdata(CHART_SCRIPT, 'the chart script')}</script>`)
  out.push('</body>')
  out.push('</html>')
  return out.join('\n') + '\n'
}

/** One checker: its verdict, summary and the evidence of each anomaly. */
function checkerSection(c: CheckerResult): string {
  const e = xmlEscape
  const cls = c.ok ? 'pass' : 'fail'
  const lines = [`<section class="checker ${cls}" data-checker="${e(c.name)}" data-ok="${c.ok}">`]
  lines.push(`<h3><span class="${cls}">${c.ok ? 'PASS' : 'FAIL'}</span> ${e(c.name)}</h3>`)
  lines.push(`<p>${e(c.summary)}</p>`)
  if (c.anomalies.length) {
    lines.push('<ul class="evidence">')
    for (const a of c.anomalies) lines.push(`<li><strong>${e(a.kind)}</strong>: ${e(a.message)}</li>`)
    lines.push('</ul>')
  }
  lines.push('</section>')
  return lines.join('\n')
}

/** A table with a header row; `numeric` columns right-aligned. */
function table(headers: string[], rows: string[][], numeric: number[], cls: string): string {
  const e = xmlEscape
  if (rows.length === 0) return `<p class="${cls}">None.</p>`
  const head = `<thead><tr>${headers.map((h) => `<th scope="col">${e(h)}</th>`).join('')}</tr></thead>`
  const body = rows.map((r) => `<tr>${r.map((c, i) => `<td${numeric.includes(i) ? ' class="num"' : ''}>${e(c)}</td>`).join('')}</tr>`).join('\n')
  return `<table class="${cls}">${head}<tbody>\n${body}\n</tbody></table>`
}
