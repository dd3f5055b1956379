import t, { type Test } from 'tap'
import { startBench } from './helpers/bench-run.ts'

// --cpu_util and --repeat on real clusters. --cpu_util: perftest's
// CPU_Util[%] on a -D run (the client node's CPU over the measured window:
// results.CPU_util and the table's last column), and every node's CPU time
// per operation, read by the node itself (proc.cpu), in the JSON. --repeat N:
// N runs on one cluster; the median with min and max of the emulator's
// figures, the baseline's and the ratio. Small runs, in parallel.
const cpuJson = startBench(t, ['write_bw', '-s', '1024', '-D', '2', '--cpu_util', '--json'])
const cpuTable = startBench(t, ['read_bw', '-s', '64', '-D', '2', '--cpu_util'])
const repeatJson = startBench(t, ['write_bw', '-s', '256', '-n', '300', '--repeat', '3', '--baseline', '--cpu_util', '--json'])
const repeatTable = startBench(t, ['read_lat', '-n', '50', '--repeat', '2'])

interface NodeCpu { node: string; role: string; pid: number; userUs: number; systemUs: number; cpuUsPerOp: number; utilPercent: number }
interface Spread { median: number; min: number; max: number; values: number[] }

function checkNodes(t: Test, nodes: NodeCpu[]): void {
  t.same(nodes.map((n) => [n.node, n.role]).sort(), [['client0', 'client'], ['server0', 'server']], 'both node processes')
  for (const n of nodes) {
    t.ok(n.pid > 0 && n.pid !== process.pid, `${n.node}: its own process (pid ${n.pid})`)
    t.ok(n.userUs + n.systemUs > 0, `${n.node}: ${n.userUs} µs user + ${n.systemUs} µs sys in the window`)
    t.ok(n.cpuUsPerOp > 0 && n.cpuUsPerOp < 100_000, `${n.node}: ${n.cpuUsPerOp.toFixed(2)} µs CPU per operation`)
  }
}

t.test('bench - --cpu_util -D: CPU_util in the results, CPU per operation of every node', async (t) => {
  const r = await cpuJson(t)
  t.equal(r.code, 0, r.stderr)
  t.notMatch(r.stderr, /CPU Utilization works only with Duration mode/, 'no warning with -D')
  const json = JSON.parse(r.stdout) as { results: Record<string, number>; rdma_emu: { cpu: { CPU_util: number; ops: number; measuredMs: number; windowMs: number; nodes: NodeCpu[] } } }
  const doc = { results: json.results, cpu: json.rdma_emu.cpu }
  t.type(doc.results.CPU_util, 'number', "perftest's CPU_util key among the results")
  t.ok(doc.results.CPU_util! > 0 && doc.results.CPU_util! <= 400, `CPU_util ${doc.results.CPU_util} %`)
  t.equal(doc.results.CPU_util, Math.round(doc.cpu.CPU_util * 100) / 100, 'two decimals, as perftest prints it')
  t.equal(doc.cpu.ops, doc.results.n_iterations, 'per operation of the measured operations')
  t.ok(doc.cpu.measuredMs >= 2000 && doc.cpu.measuredMs < 20_000, `-D 2: margin 0, the whole run is measured (${doc.cpu.measuredMs.toFixed(0)} ms, the drain included)`)
  t.ok(doc.cpu.windowMs >= 1500, `snapshots ${doc.cpu.windowMs.toFixed(0)} ms apart`)
  checkNodes(t, doc.cpu.nodes)
  const client = doc.cpu.nodes.find((n) => n.role === 'client')!
  t.equal(doc.cpu.CPU_util, client.utilPercent, 'CPU_util is the client node process over the window')
})

t.test('bench - --cpu_util -D table: perftest\'s CPU_Util[%] column and the nodes\' lines', async (t) => {
  const r = await cpuTable(t)
  t.equal(r.code, 0, r.stderr)
  const lines = r.stdout.split('\n')
  const at = lines.findIndex((l) => l.startsWith(' #bytes'))
  t.match(lines[at], /BW average\[MiB\/sec\]\s+MsgRate\[Mpps\] {4}CPU_Util\[%\]$/, 'header ends with perftest\'s RESULT_EXT_CPU_UTIL')
  const row = lines[at + 1]!
  t.match(row, /^ 64\s+\d+\s+0\.00\s+\d+\.\d{2}\s+\d+\.\d{6}\t {4}\d+\.\d{2}\s*$/, `row ends with "\\t    %-3.2f": ${JSON.stringify(row)}`)
  t.match(r.stdout, /cpu \(--cpu_util\): \d+ operations in 2\.\d{2} s/)
  t.match(r.stdout, /server0 \(server, pid \d+\)\s+\d+\.\d ms\s+\d+\.\d %\s+\d+\.\d{3} usec\/op/)
  t.match(r.stdout, /client0 \(client, pid \d+\)\s+\d+\.\d ms\s+\d+\.\d %\s+\d+\.\d{3} usec\/op/)
})

t.test('bench - --repeat 3 --baseline --cpu_util: median, min and max of emulator, baseline, ratio and CPU', async (t) => {
  const r = await repeatJson(t)
  t.equal(r.code, 0, r.stderr)
  t.match(r.stderr, /CPU Utilization works only with Duration mode/, "perftest's warning without -D")
  const json = JSON.parse(r.stdout) as {
    results: Record<string, number>
    rdma_emu: {
      repeat: { runs: number; results: Array<Record<string, number>>; emulator: Record<string, Spread>; baseline: Record<string, Spread>; ratio: Spread; ratioMetric: string; cpuUsPerOp: Record<string, Spread>; baselineCpuUsPerOp: Record<string, Spread>; cpuRatio: Record<string, Spread> }
      cpu: { nodes: NodeCpu[] }
      baselineCpu: { ops: number; nodes: NodeCpu[] }
      baseline: { n_iterations: number }
    }
  }
  const doc = { results: json.results, ...json.rdma_emu }
  t.notOk('CPU_util' in doc.results, 'no CPU_util key without -D (perftest)')
  checkNodes(t, doc.cpu.nodes)
  const rep = doc.repeat
  t.equal(rep.runs, 3)
  t.equal(rep.results.length, 3, 'every run\'s results')
  t.same(rep.emulator.BW_average!.values, rep.results.map((x) => x.BW_average), 'the emulator figures are the runs\' own')
  const last = rep.results[2]!
  t.equal(last.n_iterations, doc.results.n_iterations, 'the report is the last run')
  t.ok(Math.abs(last.BW_average! - doc.results.BW_average!) <= 0.005, `its BW_average, printed with perftest's two decimals: ${last.BW_average} -> ${doc.results.BW_average}`)
  const median = (v: number[]) => [...v].sort((a, b) => a - b)[1]
  for (const [what, s] of [['emulator BW_average', rep.emulator.BW_average!], ['emulator MsgRate', rep.emulator.MsgRate!], ['baseline BW_average', rep.baseline.BW_average!], ['ratio', rep.ratio], ['CPU/op server0', rep.cpuUsPerOp.server0!], ['CPU/op client0', rep.cpuUsPerOp.client0!]] as const) {
    t.equal(s.values.length, 3, `${what}: three values`)
    t.equal(s.median, median(s.values), `${what}: median ${s.median}`)
    t.equal(s.min, Math.min(...s.values), `${what}: min`)
    t.equal(s.max, Math.max(...s.values), `${what}: max`)
    t.ok(s.min > 0, `${what}: measured`)
  }
  t.equal(rep.ratioMetric, 'BW_average')
  // --cpu_util with --baseline: the same reading around the raw ZeroMQ run, and emulator / raw per node.
  checkNodes(t, doc.baselineCpu.nodes)
  t.equal(doc.baselineCpu.ops, doc.baseline.n_iterations, "the baseline's CPU per op is over the baseline's operations")
  for (const node of ['server0', 'client0']) {
    const raw = rep.baselineCpuUsPerOp[node]!
    t.equal(raw.values.length, 3, `baseline CPU/op ${node}: three values`)
    t.ok(raw.min > 0, `baseline CPU/op ${node}: measured (${raw.median.toFixed(2)} us)`)
    rep.cpuRatio[node]!.values.forEach((v, i) => t.ok(Math.abs(v - rep.cpuUsPerOp[node]!.values[i]! / raw.values[i]!) < 1e-9, `run ${i + 1}: CPU ratio ${node} = emulator / raw`))
  }
  rep.ratio.values.forEach((v, i) => t.ok(Math.abs(v - rep.emulator.BW_average!.values[i]! / rep.baseline.BW_average!.values[i]!) < 1e-9, `run ${i + 1}: ratio = emulator / baseline`))
})

t.test('bench - --repeat 2 table: the summary under the report', async (t) => {
  const r = await repeatTable(t)
  t.equal(r.code, 0, r.stderr)
  t.match(r.stdout, /repeat {10}: 2 runs on the same cluster/)
  t.match(r.stdout, / figure\s+median\s+min\s+max/)
  const line = /t_typical\[usec\]\s+(\d+\.\d{2})\s+(\d+\.\d{2})\s+(\d+\.\d{2})/.exec(r.stdout)
  t.ok(line, 't_typical line')
  const [med, min, max] = line!.slice(1).map(Number) as [number, number, number]
  t.ok(min <= med && med <= max, `min ${min} <= median ${med} <= max ${max}`)
  t.ok(Math.abs(med - (min + max) / 2) < 0.011, 'two runs: the median is the mean of both')
  t.match(r.stdout, /t_avg\[usec\]/)
})
