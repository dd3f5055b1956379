import { XMLParser, XMLValidator } from 'fast-xml-parser'
import t from 'tap'
import { buildSeries } from '../src/report/series.ts'
import { renderTimelineSvg } from '../src/report/timeline-svg.ts'
import { fixtureRun } from './report-fixture.ts'

type Node = Record<string, unknown>
/** Every element named `name` anywhere under `node` (fast-xml-parser's object form). */
function findAll(node: unknown, name: string, out: Node[] = []): Node[] {
  if (Array.isArray(node)) for (const n of node) findAll(n, name, out)
  else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (k === name) for (const n of Array.isArray(v) ? v : [v]) out.push(n as Node)
      findAll(v, name, out)
    }
  }
  return out
}
const text = (n: unknown): string => (typeof n === 'object' && n !== null ? String((n as Node)['#text'] ?? '') : String(n))

// The timeline SVG is well-formed XML, names every stream and fault band
// (legend and labels), and places each band by its times.
t.test('timeline svg - well-formed, names series and bands, bands placed by time', async (t) => {
  const run = fixtureRun()
  const series = buildSeries(run)
  const svg = renderTimelineSvg(series, { title: 'partition-heal <timeline>' })
  t.equal(XMLValidator.validate(svg), true, 'the SVG is well-formed XML')
  const tree = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@_' }).parse(svg)
  t.equal(tree.svg['@_xmlns'], 'http://www.w3.org/2000/svg', 'root element is <svg>')
  t.equal(text(tree.svg.title), 'partition-heal <timeline>', 'title escaped and read back')

  const groups = findAll(tree, 'g')
  const lines = groups.filter((g) => g['@_class'] === 'series')
  t.same(lines.map((g) => g['@_data-stream']), ['read<b>', 'write-a'], 'one line per stream')
  t.ok(lines.every((g) => typeof (g.polyline as Node)['@_points'] === 'string'), 'each stream is a polyline')
  const pts = String((lines[1]!.polyline as Node)['@_points']).split(' ')
  t.equal(pts.length, 20, 'one vertex per 50 ms interval over 1 s')

  const legend = groups.filter((g) => g['@_class'] === 'legend-item')
  const legendTexts = legend.map((g) => text(g.text))
  for (const s of series.streams) t.ok(legendTexts.includes(s.id), `legend names stream ${s.id}`)
  for (const f of run.faults) t.ok(legendTexts.includes(f.label), `legend names fault band ${f.label}`)
  for (const k of ['lease-break', 'restart']) t.ok(legendTexts.includes(k), `legend names event kind ${k}`)

  const bands = groups.filter((g) => g['@_class'] === 'fault-band')
  t.same(bands.map((b) => b['@_data-fault-id']), ['p1', 'd1'], 'one band per fault')
  for (const b of bands) t.equal(text(b.text), run.faults.find((f) => f.id === b['@_data-fault-id'])!.label, 'band labelled on the chart')
  const rect = (b: Node) => {
    const r = b.rect as Node
    return { x: Number(r['@_x']), w: Number(r['@_width']), opacity: Number(r['@_fill-opacity']) }
  }
  // The x axis: the ticks labelled 0 and 1 (s) give the scale.
  const xAxis = groups.find((g) => g['@_class'] === 'x-axis')!
  const tickX = (label: string) => Number((xAxis.text as Node[]).find((n) => text(n) === label)!['@_x'])
  t.ok((xAxis.line as Node[]).length >= 5, 'x axis has ticks')
  const x0 = tickX('0')
  const x1 = tickX('1')
  const at = (us: number) => x0 + (us / 1e6) * (x1 - x0)
  const p1 = rect(bands[0]!)
  t.ok(Math.abs(p1.x - at(300_000)) < 0.2, `partition band starts at 0.3 s (x ${p1.x})`)
  t.ok(Math.abs(p1.x + p1.w - at(500_000)) < 0.2, 'partition band ends at 0.5 s')
  const d1 = rect(bands[1]!)
  t.ok(Math.abs(d1.x - at(700_000)) < 0.2 && Math.abs(d1.x + d1.w - at(1_000_000)) < 0.2, 'open-ended band runs to the end of the run')
  t.ok(p1.opacity > 0 && p1.opacity < 0.5, 'bands are translucent')

  const marks = groups.filter((g) => g['@_class'] === 'event-mark')
  t.equal(marks.length, 2, 'one mark per event')
  t.ok(Math.abs(Number((marks[0]!.line as Node)['@_x1']) - at(320_000)) < 0.2, 'lease break marked at 0.32 s')
  t.same(marks.map((m) => text(m.text)), run.events.map((e) => e.label), 'events labelled')

  t.match(svg, />Throughput \(successful operations\/s\)</, 'y axis title names quantity and unit')
  t.match(svg, />Time since the run&apos;s start \(s\), 50 ms intervals</, 'x axis title names quantity and unit')
  t.match(renderTimelineSvg(series, { unit: 'MiB' }), />Throughput \(MiB\/s\)</, 'MiB/s on request')
})

t.test('timeline svg - an empty run still draws a valid chart', async (t) => {
  const svg = renderTimelineSvg(buildSeries({ ops: [] }))
  t.equal(XMLValidator.validate(svg), true)
  t.notMatch(svg, /NaN|Infinity/, 'no NaN or Infinity coordinates')
})
