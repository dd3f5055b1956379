/**
 * A line chart as a standalone SVG document, written by hand (no charting
 * dependency): a title, both axes with ticks and titles naming quantity and
 * unit, one polyline (with point markers) per series, and a legend.
 * The x axis is linear or log2 (message sizes); the y axis is linear from 0.
 */
import { COLORS, formatNumber, niceTicks, svgOpen, xmlEscape, yAxisSvg } from '../report/svg-kit.ts'

export { xmlEscape }

export interface ChartSeries {
  name: string
  /** [x, y] points; drawn in x order. */
  points: Array<[number, number]>
  /** Dashed line (e.g. a baseline beside the measured series). */
  dashed?: boolean
}

export interface LineChart {
  title: string
  xTitle: string
  yTitle: string
  xScale: 'linear' | 'log2'
  series: ChartSeries[]
}

/** Plot area; the legend to its right grows with the longest series name. */
const PLOT_W = 560
const H = 500
const M = { left: 90, top: 56, bottom: 70 }
/** Rough width of one legend character at font-size 12. */
const CHAR_W = 7
/** 2, 4 ... 512, 1K ... 512K, 1M ... as perftest users read sizes. */
export function formatBytes(n: number): string {
  if (n >= 2 ** 20 && n % 2 ** 20 === 0) return `${n / 2 ** 20}M`
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024}K`
  return String(n)
}

function linearTicks(min: number, max: number): number[] {
  const span = max - min
  const step = span <= 12 ? 1 : niceTicks(span, 8)[1]!
  const ticks: number[] = []
  for (let v = Math.ceil(min / step) * step; v <= max + 1e-9; v += step) ticks.push(v)
  return ticks
}

export function renderSvg(chart: LineChart): string {
  const all = chart.series.flatMap((s) => s.points)
  const xs = all.map((p) => p[0])
  const ys = all.map((p) => p[1]).filter((y) => Number.isFinite(y))
  const log = chart.xScale === 'log2'
  const fx = (x: number) => (log ? Math.log2(Math.max(x, 1e-9)) : x)
  let x0 = xs.length ? Math.min(...xs.map(fx)) : 0
  let x1 = xs.length ? Math.max(...xs.map(fx)) : 1
  if (x1 - x0 < 1e-9) {
    x0 -= 1
    x1 += 1
  }
  const yTicks = niceTicks(ys.length ? Math.max(...ys) : 1)
  const yMax = yTicks[yTicks.length - 1]!
  const legendW = 70 + CHAR_W * Math.max(8, ...chart.series.map((s) => s.name.length))
  const W = M.left + PLOT_W + legendW
  const pw = PLOT_W
  const ph = H - M.top - M.bottom
  const px = (x: number) => M.left + ((fx(x) - x0) / (x1 - x0)) * pw
  const py = (y: number) => M.top + ph - (y / yMax) * ph
  const r = (v: number) => v.toFixed(1)

  const out: string[] = []
  out.push(...svgOpen(W, H, chart.title))
  out.push(`<text x="${r(M.left + pw / 2)}" y="28" text-anchor="middle" font-size="16" font-weight="bold">${xmlEscape(chart.title)}</text>`)

  out.push(...yAxisSvg({ left: M.left, top: M.top, width: pw, height: ph }, yTicks, chart.yTitle))

  // x ticks: every power of two (thinned to at most 12 labels) or round linear values.
  out.push('<g class="x-axis">')
  let xTicks: number[]
  if (log) {
    xTicks = []
    for (let e = Math.ceil(x0); e <= Math.floor(x1); e++) xTicks.push(2 ** e)
    const every = Math.ceil(xTicks.length / 12)
    xTicks = xTicks.filter((_, i) => i % every === 0)
  } else {
    xTicks = linearTicks(x0, x1)
  }
  const xBase = M.top + ph
  for (const v of xTicks) {
    const x = r(px(v))
    out.push(`<line x1="${x}" y1="${xBase}" x2="${x}" y2="${xBase + 5}" stroke="#000000"/>`)
    out.push(`<text x="${x}" y="${xBase + 18}" text-anchor="middle">${xmlEscape(log ? formatBytes(v) : formatNumber(v))}</text>`)
  }
  out.push(`<line x1="${M.left}" y1="${xBase}" x2="${M.left + pw}" y2="${xBase}" stroke="#000000"/>`)
  out.push(`<text class="axis-title" x="${r(M.left + pw / 2)}" y="${H - 22}" text-anchor="middle">${xmlEscape(chart.xTitle)}</text>`)
  out.push('</g>')

  // Series and legend.
  chart.series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length]!
    const pts = [...s.points].filter((p) => Number.isFinite(p[1])).sort((a, b) => a[0] - b[0])
    out.push(`<g class="series">`)
    out.push(`<title>${xmlEscape(s.name)}</title>`)
    if (pts.length > 1) {
      out.push(
        `<polyline fill="none" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''} points="${pts.map(([x, y]) => `${r(px(x))},${r(py(y))}`).join(' ')}"/>`,
      )
    }
    for (const [x, y] of pts) out.push(`<circle cx="${r(px(x))}" cy="${r(py(y))}" r="3" fill="${color}"/>`)
    out.push('</g>')
    const ly = M.top + 10 + i * 20
    const lx = M.left + pw + 20
    out.push(
      `<g class="legend-item"><line x1="${lx}" y1="${ly}" x2="${lx + 24}" y2="${ly}" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>` +
        `<text x="${lx + 30}" y="${ly}" dominant-baseline="middle">${xmlEscape(s.name)}</text></g>`,
    )
  })
  out.push('</svg>')
  return out.join('\n') + '\n'
}
