import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { XMLParser, XMLValidator } from 'fast-xml-parser'
import t from 'tap'
import { pidsMatching, reapAfter, runCli, tempDir, waitGone, writeConfig } from './cluster-helpers.ts'

// `bench -a --max-size 64`: one run per size 2..64 (with the raw ZeroMQ
// baseline beside each), then CSV, JSON and an SVG chart in the run
// directory, their paths printed. The SVG must be well-formed XML and name
// both axes with quantity and unit.
t.test('bench - sweep writes csv json and svg', async (t) => {
  const dir = tempDir(t)
  const config = writeConfig(dir, {
    name: 'bench-sweep-test',
    logLevel: 'warn',
    nodes: [
      { id: 'server0', role: 'server', host: '127.0.0.1', port: 0 },
      { id: 'client0', role: 'client', host: '127.0.0.1', port: 0 },
    ],
  })
  const runDir = join(dir, 'run')
  reapAfter(t, runDir)
  const r = await runCli(['bench', 'write_bw', '-a', '--max-size', '64', '-n', '100', '-t', '16', '--baseline', '-c', config, '--run-dir', runDir], { timeoutMs: 60000 })
  t.same(await waitGone(pidsMatching(runDir), 3000), [], 'no node process left behind')
  t.equal(r.code, 0, r.stderr)

  const printed = (label: string) => r.stdout.match(new RegExp(`^ ${label}\\s+: (.+)$`, 'm'))?.[1]
  const files = { csv: printed('csv'), json: printed('json'), svg: printed('chart \\(svg\\)') }
  for (const [k, f] of Object.entries(files)) {
    t.ok(f && existsSync(f), `${k} path printed and the file exists (${f})`)
    t.equal(f && join(f, '..'), runDir, `${k} is in the run directory`)
  }
  const sizes = [2, 4, 8, 16, 32, 64]

  const csv = readFileSync(files.csv!, 'utf8').trim().split('\n')
  t.match(csv[0], /^test,MsgSize,clients,workers,qps,tx_depth,n_iterations,BW_peak,BW_average,MsgRate,baseline_BW_peak,baseline_BW_average,baseline_MsgRate,ratio,data_check$/)
  t.same(csv.slice(1).map((l) => Number(l.split(',')[1])), sizes, 'one CSV row per size')
  t.ok(csv.slice(1).every((l) => l.endsWith(',ok')), 'every point passed its data check')

  const doc = JSON.parse(readFileSync(files.json!, 'utf8'))
  t.equal(doc.rdma_emu.axis, 'size')
  t.same(doc.rdma_emu.points.map((p: { MsgSize: number }) => p.MsgSize), sizes)
  for (const p of doc.rdma_emu.points) {
    t.ok(p.results.BW_average > 0 && p.baseline.BW_average > 0 && p.ratio > 0, `size ${p.MsgSize}: figures and ratio positive`)
  }

  const svg = readFileSync(files.svg!, 'utf8')
  t.equal(XMLValidator.validate(svg), true, 'the SVG is well-formed XML')
  const tree = new XMLParser({ ignoreAttributes: false, preserveOrder: false }).parse(svg)
  t.ok(tree.svg, 'root element is <svg>')
  t.equal(tree.svg['@_xmlns'], 'http://www.w3.org/2000/svg')
  t.match(svg, />Message size \(bytes, log2 scale\)</, 'x axis title names quantity and unit')
  t.match(svg, />Bandwidth, BW average \(MiB\/sec\)</, 'y axis title names quantity and unit')
  t.equal((svg.match(/<polyline /g) ?? []).length, 2, 'one line for the emulator, one for raw ZeroMQ')
  t.match(svg, />emulator</, 'legend names the emulator series')
  t.match(svg, />raw ZeroMQ</, 'legend names the baseline series')
})
