/**
 * Pieces shared by the project's hand-made SVG charts (the bench sweep chart
 * in src/bench/svg-chart.ts and the run timeline in timeline-svg.ts): text
 * escaping, number labels, round tick values and the series palette.
 */

/** The series colours, in order (repeating past the tenth). */
export const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf']

/** Text escaped for XML (and HTML) content and attribute values. */
export function xmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;')
}

/** A tick label: 3 significant digits, k and M for thousands and millions. */
export function formatNumber(v: number): string {
  if (v === 0) return '0'
  const a = Math.abs(v)
  if (a >= 1e6) return `${+(v / 1e6).toPrecision(3)}M`
  if (a >= 1e4) return `${+(v / 1e3).toPrecision(3)}k`
  return String(+v.toPrecision(3))
}

/** A round step (1, 2, 2.5 or 5 times a power of ten) giving about `count` steps over `span`. */
export function niceStep(span: number, count = 6): number {
  if (!(span > 0)) return 1
  const raw = span / count
  const mag = 10 ** Math.floor(Math.log10(raw))
  return [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw)!
}

/** About `count` round tick values covering [0, max] (the last one >= max). */
export function niceTicks(max: number, count = 6): number[] {
  if (!(max > 0)) return [0, 1]
  const step = niceStep(max, count)
  const ticks: number[] = []
  for (let v = 0; v <= max + step * 1e-9; v += step) ticks.push(+v.toPrecision(12))
  if (ticks[ticks.length - 1]! < max) ticks.push(+(ticks[ticks.length - 1]! + step).toPrecision(12))
  return ticks
}

/** A coordinate as SVG text (one decimal). */
export function px1(v: number): string {
  return v.toFixed(1)
}

/** The XML declaration, the opening `<svg>` tag of a W×H document, its title and a white background. */
export function svgOpen(width: number, height: number, title: string): string[] {
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<title>${xmlEscape(title)}</title>`,
    `<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`,
  ]
}

/** Where a plot sits in its document (px). */
export interface PlotBox {
  left: number
  top: number
  width: number
  height: number
}

/**
 * A linear y axis from 0 at the plot's left edge: a grid line, a tick and a
 * label per tick value (the last one is the top), the axis line and its
 * title, rotated.
 */
export function yAxisSvg(box: PlotBox, ticks: number[], title: string): string[] {
  const max = ticks[ticks.length - 1]!
  const right = box.left + box.width
  const out = ['<g class="y-axis">']
  for (const v of ticks) {
    const y = px1(box.top + box.height - (v / max) * box.height)
    out.push(`<line x1="${box.left}" y1="${y}" x2="${right}" y2="${y}" stroke="#e0e0e0"/>`)
    out.push(`<line x1="${box.left - 5}" y1="${y}" x2="${box.left}" y2="${y}" stroke="#000000"/>`)
    out.push(`<text x="${box.left - 8}" y="${y}" text-anchor="end" dominant-baseline="middle">${xmlEscape(formatNumber(v))}</text>`)
  }
  out.push(`<line x1="${box.left}" y1="${box.top}" x2="${box.left}" y2="${box.top + box.height}" stroke="#000000"/>`)
  const tx = px1(box.left - 62)
  const ty = px1(box.top + box.height / 2)
  out.push(`<text class="axis-title" x="${tx}" y="${ty}" text-anchor="middle" transform="rotate(-90 ${tx} ${ty})">${xmlEscape(title)}</text>`)
  out.push('</g>')
  return out
}
