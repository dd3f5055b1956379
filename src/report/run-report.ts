/**
 * The report files of a fault-injection run, written into its run directory:
 * `series.json` (the time series, for scripts), `timeline.svg` (the chart)
 * and `report.html` (the self-contained page a person opens).
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { renderHtmlReport, type ChartLibrary } from './html-report.ts'
import type { RunReportInput } from './run-report-types.ts'
import { buildSeries, type RunSeries, type ThroughputUnit } from './series.ts'
import { renderTimelineSvg } from './timeline-svg.ts'

/** Options of `writeRunReport`. */
export interface WriteRunReportOptions {
  /** What the charts plot: operations/s (default) or MiB/s. */
  unit?: ThroughputUnit
  /** The charting library to inline (default: the installed uPlot); null for the SVG figure only. */
  chartLibrary?: ChartLibrary | null
}

/** Where the files went, and the series they were drawn from. */
export interface RunReportFiles {
  json: string
  svg: string
  html: string
  series: RunSeries
}

/** Build the series from `input` and write the three files into `dir` (created if missing). */
export async function writeRunReport(dir: string, input: RunReportInput, opts: WriteRunReportOptions = {}): Promise<RunReportFiles> {
  const series = buildSeries(input)
  const svg = renderTimelineSvg(series, { title: `${input.title}: throughput per stream`, unit: opts.unit })
  const html = renderHtmlReport(input, series, svg, { unit: opts.unit, chartLibrary: opts.chartLibrary })
  await mkdir(dir, { recursive: true })
  const files = { json: join(dir, 'series.json'), svg: join(dir, 'timeline.svg'), html: join(dir, 'report.html') }
  await writeFile(files.json, JSON.stringify(series, null, 2) + '\n')
  await writeFile(files.svg, svg)
  await writeFile(files.html, html)
  return { ...files, series }
}
