import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { XMLValidator } from 'fast-xml-parser'
import t from 'tap'
import { runScenario } from './helpers/scenario-run.ts'
import { readHistory, readJson, TWO_CLIENT_CONFIG, type CheckJson } from './helpers/fault-run.ts'

// The shipped partition-heal: client0 is cut off from the server for 1.2 s
// while client1 goes on. The partition outlasts client0's retry budget
// (retryCnt 3): its head WR completes with RETRY_EXC_ERR and the rest of the
// window with WR_FLUSH_ERR, nothing before that; after the heal a new
// connection moves data again. Every checker passes, and the report is written.
t.test('partition-heal: RETRY_EXC_ERR then WR_FLUSH_ERR, a new connection after the heal, every checker passes', async (t) => {
  const r = await runScenario(t, 'partition-heal', ['--json'], { config: TWO_CLIENT_CONFIG })
  t.equal(r.code, 0, `exit 0 ${r.stderr}`)
  const run = r.json.runs[0]
  const dir = join(r.runDir, 'deny')
  const checks = readJson(join(dir, 'checks.json')) as CheckJson[]
  t.same(checks.filter((c) => !c.ok).map((c) => c.name), [], 'no checker failed')
  t.same(checks.map((c) => c.name), ['lost-write', 'register', 'atomics', 'exactly-once', 'leftovers', 'alive', 'oracle'], 'the checkers that apply ran')

  const ops = readHistory(dir)
  const cut = ops.filter((o) => o.stream === 'cut')
  const firstErr = cut.findIndex((o) => o.status !== 'SUCCESS')
  t.ok(firstErr > 0, 'client0 moved data before the partition')
  const head = cut[firstErr]!
  t.equal(head.status, 'RETRY_EXC_ERR', 'the head WR: RETRY_EXC_ERR once the retry budget is spent')
  const part = run.faultLog.filter((e: { fault: string }) => e.fault === 'cut-client0')
  const startUs = part[0].atMs * 1000
  const endUs = part[1].atMs * 1000
  t.ok(head.completedUs! > startUs, 'and not before the partition began')
  const sameQp = cut.filter((o) => o.qpn === head.qpn && o.connection === head.connection && o.id > head.id)
  t.ok(sameQp.length > 0 && sameQp.every((o) => o.status === 'WR_FLUSH_ERR'), `the ${sameQp.length} WRs after it on that QP: WR_FLUSH_ERR`)
  t.ok(cut.slice(0, firstErr).every((o) => o.status === 'SUCCESS'), 'nothing failed before the head WR')
  const after = cut.filter((o) => o.status === 'SUCCESS' && o.postedUs > endUs)
  t.ok(after.length > 100, `after the heal a new connection moved data again (${after.length} operations)`)
  t.ok(after.every((o) => o.qpn !== head.qpn || o.connection !== head.connection), 'on a new QP')
  const free = ops.filter((o) => o.stream === 'free')
  t.ok(free.length > 0 && free.every((o) => o.status === 'SUCCESS'), `client1 never noticed (${free.length} operations, all SUCCESS)`)
  t.equal(run.metrics.reconnects, 1, 'one reconnect')
  t.ok(run.metrics.faultsPartitioned > 0, `the partition dropped ${run.metrics.faultsPartitioned} packets`)

  // The report: SVG and HTML well-formed, naming the streams and the fault band.
  for (const f of ['timeline.svg', 'report.html', 'series.json']) t.ok(existsSync(join(dir, f)), `${f} written`)
  const svg = readFileSync(join(dir, 'timeline.svg'), 'utf8')
  t.equal(XMLValidator.validate(svg), true, 'the SVG is well-formed XML')
  for (const name of ['cut', 'free', 'partition client0']) t.match(svg, name, `the SVG names ${name}`)
  const html = readFileSync(join(dir, 'report.html'), 'utf8')
  t.match(html, /partition-heal/, 'the HTML names the scenario')
  t.match(html, /exactly-once/, 'and the checkers')
  const series = readJson(join(dir, 'series.json'))
  t.same(series.streams.map((s: { id: string }) => s.id).sort(), ['cut', 'free'], 'series.json: one series per stream')
  t.ok(series.faults.some((b: { id: string }) => b.id === 'cut-client0'), 'and the fault band')
})
