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
