import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { XMLParser, XMLValidator } from 'fast-xml-parser'
import t, { type Test } from 'tap'
import { writeRunReport } from '../src/report/run-report.ts'
import { pidsMatching, reapAfter, runCommand, tempDir, waitGone } from './cluster-helpers.ts'
import { fixtureRun } from './report-fixture.ts'

// The HTML report: one self-contained file, well-formed enough for a strict
// (XML) parser, that a real headless browser (Debian's chromium) renders
// with the uPlot chart drawn.

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p))

/** The body element's attributes in a dumped DOM. */
function bodyAttributes(dom: string): Record<string, string> {
  const tag = /<body\b([^>]*)>/.exec(dom)?.[1] ?? ''
  return Object.fromEntries([...tag.matchAll(/([\w-]+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]))
}

/** Render `file` in headless chromium (fresh profile) and return the DOM after its scripts ran. */
async function dumpDom(t: Test, file: string): Promise<string> {
  const profile = mkdtempSync(join(tmpdir(), 'rdma-emu-chromium-'))
  // Whatever happens, no chromium process of this profile outlives the test (registered before the
  // profile's removal, so it runs first).
  reapAfter(t, profile)
  const r = await runCommand(
    CHROMIUM!,
    [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      `--user-data-dir=${profile}`,
      '--virtual-time-budget=5000',
      '--dump-dom',
      pathToFileURL(file).href,
    ],
    { cwd: tmpdir(), timeoutMs: 60000 },
  )
  t.equal(r.code, 0, `chromium exited 0${r.code === 0 ? '' : `: ${r.stderr.slice(-2000)}`}`)
  t.same(await waitGone(pidsMatching(profile), 10000), [], 'no chromium process left behind')
  t.teardown(() => rmSync(profile, { recursive: true, force: true }))
  return r.stdout
}

t.test('html report - self-contained and well-formed', async (t) => {
  const dir = tempDir(t)
  const run = fixtureRun()
  const files = await writeRunReport(dir, run)
  for (const f of [files.html, files.svg, files.json]) t.ok(existsSync(f), `${f} written`)
  const html = readFileSync(files.html, 'utf8')
  t.equal(XMLValidator.validate(html), true, 'a strict (XML) parser accepts the page')
  const tree = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@_' }).parse(html)
  t.ok(tree.html?.head && tree.html?.body, 'html with head and body')
  t.notMatch(html, /\b(src|href)="(https?:)?\/\//, 'no network reference: everything inline')
  t.match(html, /uPlot/, 'uPlot inlined')
  const embedded = /<script type="application\/json" id="series-data">([^<]*)<\/script>/.exec(html)?.[1]
  t.same(JSON.parse(embedded!), JSON.parse(readFileSync(files.json, 'utf8')), 'the series JSON is embedded, equal to series.json')
  t.match(html, /<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/, 'the SVG figure is embedded')
  for (const s of ['read&lt;b&gt;', 'write-a']) t.match(html, s, `names stream ${s}`)
  for (const f of run.faults) t.ok(html.includes(`data-fault-id="${f.id}"`), `names fault band ${f.id}`)
  t.match(html, /data-checker="linearizable-reads" data-ok="false"/, 'the failing checker')
  t.match(html, /stale-read<\/strong>: op 17 READ word 3 at 0.512 s returned op 9&apos;s value &lt;overwritten/, 'its evidence, escaped')
  t.match(html, /<th scope="row">Seed<\/th><td>42<\/td>/, 'the seed')
  t.match(html, /<td class="num">0.300 s<\/td><td class="num">0.500 s<\/td><td class="num">0.200 s<\/td><td>partition<\/td>/, 'the fault log row')
})

t.test('html report - the chart draws in headless chromium', { skip: CHROMIUM ? false : 'chromium not installed (/usr/bin/chromium): .ci/run installs it with apt-get when it can' }, async (t) => {
  const dir = tempDir(t)
  const files = await writeRunReport(dir, fixtureRun())
  const dom = await dumpDom(t, files.html)
  const body = bodyAttributes(dom)
  t.equal(body['data-chart-error'], undefined, 'no script error')
  t.equal(body['data-chart'], 'drawn', 'the page recorded that the chart drew')
  t.equal(body['data-series'], String(files.series.streams.length), 'one line per stream drawn')
  t.equal(body['data-detail-series'], String(2 * files.series.streams.length), 'errors and retransmissions of each stream drawn')
  t.equal(body['data-bands'], '2', 'both fault bands drawn')
  t.equal(body['data-events'], '2', 'both events drawn')
  const throughputChart = dom.slice(dom.indexOf('<div id="chart"'), dom.indexOf('<div id="chart-errors"'))
  const errorsChart = dom.slice(dom.indexOf('<div id="chart-errors"'), dom.indexOf('<ul class="chart-legend"'))
  t.match(throughputChart, /^<div id="chart"[^>]*><div[^>]*class="uplot[^"]*"[^]*<canvas\b/, 'the uPlot canvas of the throughput chart exists')
  t.match(errorsChart, /^<div id="chart-errors"[^>]*><div[^>]*class="uplot[^"]*"[^]*<canvas\b/, 'the uPlot canvas of the errors chart exists')
  for (const s of ['read&lt;b&gt;', 'write-a']) t.match(dom, new RegExp(`class="u-label">${s}<`), `uPlot's legend names ${s}`)
})

t.test('html report - without the charting library the SVG figure stands alone', { skip: CHROMIUM ? false : 'chromium not installed' }, async (t) => {
  const dir = tempDir(t)
  const files = await writeRunReport(dir, fixtureRun(), { chartLibrary: null })
  const html = readFileSync(files.html, 'utf8')
  t.equal(XMLValidator.validate(html), true, 'still well-formed')
  const dom = await dumpDom(t, files.html)
  t.equal(bodyAttributes(dom)['data-chart'], 'unavailable', 'the page says the chart library is missing')
  t.match(dom, /<figure id="static-chart">[^]*<svg/, 'the static figure is there')
})
