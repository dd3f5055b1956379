/**
 * The timeline chart of a fault-injection run as a standalone SVG document,
 * written by hand in the style of src/bench/svg-chart.ts: throughput per
 * stream as lines over time, each fault as a shaded translucent band with its
 * label above the plot, each event as a dashed vertical mark with its label,
 * both axes with ticks and titles naming quantity and unit, and a legend
 * naming every stream, every fault band and every kind of event.
 */
import { throughput, throughputTitle, type RunSeries, type ThroughputUnit } from './series.ts'
import { COLORS, formatNumber, niceStep, niceTicks, svgOpen, xmlEscape, yAxisSvg } from './svg-kit.ts'

/** Band colours by fault kind (drawn translucent). */
const FAULT_COLORS: Record<string, string> = {
  partition: '#e41a1c',
  delay: '#ff7f00',
  loss: '#984ea3',
  kill: '#333333',
  pause: '#377eb8',
  storage: '#a65628',
}
/** Mark colours by event kind. */
const EVENT_COLORS: Record<string, string> = {
  'lease-break': '#e7298a',
  'layout-change': '#66a61e',
  restart: '#1b9e77',
  revocation: '#d95f02',
  step: '#555555',
}

/** The colour of a fault band of this kind (grey for kinds without one). */
export function faultColor(kind: string): string {
  return FAULT_COLORS[kind] ?? '#999999'
}

/** The colour of an event mark of this kind. */
export function eventColor(kind: string): string {
  return EVENT_COLORS[kind] ?? '#444444'
}

/** The colour of the i-th stream's line (the SVG and the HTML chart agree). */
export function streamColor(i: number): string {
  return COLORS[i % COLORS.length]!
}

/** Opacity of a fault band's fill. */
export const BAND_OPACITY = 0.15

/** Options of `renderTimelineSvg`. */
export interface TimelineOptions {
  /** Chart title; default "Throughput per stream". */
  title?: string
  /** Operations/s (default) or MiB/s. */
  unit?: ThroughputUnit
}

/** x of each point: the middle of its interval, in seconds since the run's start. */
export function pointSeconds(tMs: number, intervalMs: number): number {
  return (tMs + intervalMs / 2) / 1000
}

const PLOT_W = 720
const PLOT_H = 300
const LEFT = 90
/** Rows of fault labels above the plot (staggered so neighbours do not collide). */
const LABEL_ROWS = 3
const LABEL_ROW_H = 15
const CHAR_W = 7

/** The chart as an SVG document (with its XML declaration). */
export function renderTimelineSvg(series: RunSeries, opts: TimelineOptions = {}): string {
  const title = opts.title ?? 'Throughput per stream'
  const unit = opts.unit ?? 'ops'
  const rows = Math.min(LABEL_ROWS, series.faults.length)
  const top = 50 + rows * LABEL_ROW_H + 8
  const kinds = [...new Set(series.events.map((e) => e.kind))]
  // The legend may run past the plot: the document grows to fit it.
  const legendEnd = top + 4 + 18 * (1 + series.streams.length) + (series.faults.length ? 24 + 18 * series.faults.length : 0) + (kinds.length ? 24 + 18 * kinds.length : 0)
  const H = Math.max(top + PLOT_H + 60, legendEnd + 10)
  const legendNames = [
    ...series.streams.map((s) => s.id),
    ...series.faults.map((f) => f.label),
    ...series.events.map((e) => e.kind),
  ]
  const legendW = 60 + CHAR_W * Math.max(10, ...legendNames.map((n) => n.length))
  const W = LEFT + PLOT_W + 20 + legendW
  const t0 = series.startUs / 1e6
  const t1 = series.endUs / 1e6
  const px = (s: number) => LEFT + ((Math.min(Math.max(s, t0), t1) - t0) / (t1 - t0)) * PLOT_W
  const ys = series.streams.flatMap((s) => s.points.map((p) => throughput(p, series.intervalMs, unit)))
  const yTicks = niceTicks(ys.length ? Math.max(...ys) : 1, 5)
  const yMax = yTicks[yTicks.length - 1]!
  const py = (v: number) => top + PLOT_H - (v / yMax) * PLOT_H
  const r = (v: number) => v.toFixed(1)
  const base = top + PLOT_H

  const out: string[] = []
  out.push(...svgOpen(W, H, title))
  out.push(`<text x="${r(LEFT + PLOT_W / 2)}" y="26" text-anchor="middle" font-size="16" font-weight="bold">${xmlEscape(title)}</text>`)

  // Fault bands first, under everything else; labels above the plot.
  out.push('<g class="faults">')
  series.faults.forEach((f, i) => {
    const x0 = px(f.startUs / 1e6)
    const x1 = px((f.endUs ?? series.endUs) / 1e6)
    const color = faultColor(f.kind)
    const ly = 50 + (i % LABEL_ROWS) * LABEL_ROW_H
    const span = `${fmtSeconds(f.startUs)}–${f.endUs === undefined ? 'end' : fmtSeconds(f.endUs)}`
    out.push(`<g class="fault-band" data-fault-id="${xmlEscape(f.id)}" data-kind="${xmlEscape(f.kind)}">`)
    out.push(`<title>${xmlEscape(`${f.label} (${f.kind}, ${span})`)}</title>`)
    out.push(`<rect x="${r(x0)}" y="${top}" width="${r(Math.max(1, x1 - x0))}" height="${PLOT_H}" fill="${color}" fill-opacity="${BAND_OPACITY}"/>`)
    out.push(`<line x1="${r(x0)}" y1="${ly + 3}" x2="${r(x0)}" y2="${top}" stroke="${color}" stroke-opacity="0.6"/>`)
    out.push(`<text class="fault-label" x="${r(x0 + 3)}" y="${ly}" fill="${color}">${xmlEscape(f.label)}</text>`)
    out.push('</g>')
  })
  out.push('</g>')

  out.push(...yAxisSvg({ left: LEFT, top, width: PLOT_W, height: PLOT_H }, yTicks, throughputTitle(unit)))

  // x axis: seconds since the run's start.
  out.push('<g class="x-axis">')
  const step = niceStep(t1 - t0, 10)
  for (let i = Math.ceil(t0 / step - 1e-9); i * step <= t1 + 1e-9; i++) {
    const v = +(i * step).toPrecision(12)
    const x = r(px(v))
    out.push(`<line x1="${x}" y1="${base}" x2="${x}" y2="${base + 5}" stroke="#000000"/>`)
    out.push(`<text x="${x}" y="${base + 18}" text-anchor="middle">${xmlEscape(formatNumber(v))}</text>`)
  }
  out.push(`<line x1="${LEFT}" y1="${base}" x2="${LEFT + PLOT_W}" y2="${base}" stroke="#000000"/>`)
  const xTitle = `Time since the run's start (s), ${series.intervalMs} ms intervals`
  out.push(`<text class="axis-title" x="${r(LEFT + PLOT_W / 2)}" y="${base + 42}" text-anchor="middle">${xmlEscape(xTitle)}</text>`)
  out.push('</g>')

  // Streams.
  series.streams.forEach((s, i) => {
    const pts = s.points.map((p) => `${r(px(pointSeconds(p.tMs, series.intervalMs)))},${r(py(throughput(p, series.intervalMs, unit)))}`)
    out.push(`<g class="series" data-stream="${xmlEscape(s.id)}">`)
    out.push(`<title>${xmlEscape(s.id)}</title>`)
    out.push(`<polyline fill="none" stroke="${streamColor(i)}" stroke-width="1.5" stroke-linejoin="round" points="${pts.join(' ')}"/>`)
    out.push('</g>')
  })

  // Events: dashed vertical marks with labels along them.
  out.push('<g class="events">')
  for (const e of series.events) {
    const x = r(px(e.atUs / 1e6))
    const color = eventColor(e.kind)
    out.push(`<g class="event-mark" data-kind="${xmlEscape(e.kind)}">`)
    out.push(`<title>${xmlEscape(`${e.label} (${e.kind}, ${fmtSeconds(e.atUs)})`)}</title>`)
    out.push(`<line x1="${x}" y1="${top}" x2="${x}" y2="${base}" stroke="${color}" stroke-width="1.5" stroke-dasharray="4 3"/>`)
    out.push(`<text class="event-label" x="${x}" y="${top + 4}" fill="${color}" font-size="11" text-anchor="end" transform="rotate(-90 ${x} ${top + 4}) translate(0 -3)">${xmlEscape(e.label)}</text>`)
    out.push('</g>')
  }
  out.push('</g>')

  // Legend: streams, fault bands, event kinds.
  out.push('<g class="legend">')
  const lx = LEFT + PLOT_W + 20
  let ly = top + 4
  const heading = (text: string) => {
    out.push(`<text x="${lx}" y="${ly}" font-weight="bold" dominant-baseline="middle">${xmlEscape(text)}</text>`)
    ly += 18
  }
  heading('Streams')
  series.streams.forEach((s, i) => {
    out.push(
      `<g class="legend-item" data-stream="${xmlEscape(s.id)}"><line x1="${lx}" y1="${ly}" x2="${lx + 24}" y2="${ly}" stroke="${streamColor(i)}" stroke-width="2"/>` +
        `<text x="${lx + 30}" y="${ly}" dominant-baseline="middle">${xmlEscape(s.id)}</text></g>`,
    )
    ly += 18
  })
  if (series.faults.length) {
    ly += 6
    heading('Faults')
    for (const f of series.faults) {
      out.push(
        `<g class="legend-item" data-fault-id="${xmlEscape(f.id)}"><rect x="${lx}" y="${ly - 6}" width="24" height="12" fill="${faultColor(f.kind)}" fill-opacity="${BAND_OPACITY * 2}" stroke="${faultColor(f.kind)}"/>` +
          `<text x="${lx + 30}" y="${ly}" dominant-baseline="middle">${xmlEscape(f.label)}</text></g>`,
      )
      ly += 18
    }
  }
  if (kinds.length) {
    ly += 6
    heading('Events')
    for (const k of kinds) {
      out.push(
        `<g class="legend-item" data-event-kind="${xmlEscape(k)}"><line x1="${lx}" y1="${ly}" x2="${lx + 24}" y2="${ly}" stroke="${eventColor(k)}" stroke-width="1.5" stroke-dasharray="4 3"/>` +
          `<text x="${lx + 30}" y="${ly}" dominant-baseline="middle">${xmlEscape(k)}</text></g>`,
      )
      ly += 18
    }
  }
  out.push('</g>')
  out.push('</svg>')
  return out.join('\n') + '\n'
}

/** A time in µs as seconds with 3 decimals ("1.250 s"). */
export function fmtSeconds(us: number): string {
  return `${(us / 1e6).toFixed(3)} s`
}
