import { join } from 'node:path'
import t from 'tap'
import { runScenario } from './helpers/scenario-run.ts'
import { readHistory, readJson, shipped, TWO_CLIENT_CONFIG, type CheckJson } from './helpers/fault-run.ts'

// A server killed with -9 after a FLUSH, then restarted with the same data
// directory: the DAX device comes back as persisted. Everything acknowledged
// before the FLUSH is there byte for byte (the lost-write checker reads the
// file after the restart and finds every such word); the writes acknowledged
// after the FLUSH are reported as unflushed, counted, not violations.
const access = ['localWrite', 'remoteWrite', 'remoteRead', 'flushGlobal', 'flushPersistent']
const killAfterFlush = {
  name: 'kill-after-flush',
  policies: ['deny'],
  steps: [
    { do: 'createFile', file: 'log.dat', bytes: 16384 },
    { do: 'fsync', file: 'log.dat' },
    { do: 'registerFile', as: 'log', file: 'log.dat', access },
    { do: 'traffic', id: 'durable', mr: 'log', op: 'write', checked: true, size: 64, window: 4, count: 600, span: 8192, flushEvery: 600, note: 'one FLUSH after the last write' },
    { do: 'traffic', id: 'volatile', mr: 'log', op: 'write', checked: true, size: 64, window: 4, count: 200, offset: 8192, span: 8192, note: 'acknowledged, never flushed' },
    { do: 'kill', node: 'server0' },
    { do: 'restart', node: 'server0' },
  ],
}

t.test('server kill -9 after a FLUSH: flushed data intact, later writes reported as unflushed', async (t) => {
  const r = await runScenario(t, killAfterFlush, ['--json'], { config: TWO_CLIENT_CONFIG })
  t.equal(r.code, 0, `exit 0 ${r.stderr}`)
  const dir = join(r.runDir, 'deny')
  const checks = readJson(join(dir, 'checks.json')) as CheckJson[]
  const lost = checks.find((c) => c.name === 'lost-write')!
  t.ok(lost.ok, `lost-write passes: ${lost.summary}`)
  t.same(lost.anomalies, [], 'no flushed write is missing after the restart')
  const ops = readHistory(dir)
  const durable = ops.filter((o) => o.stream === 'durable' && o.op === 'write')
  const volatile = ops.filter((o) => o.stream === 'volatile' && o.op === 'write')
  t.equal(durable.length, 600, '600 writes before the FLUSH')
  t.ok(durable.every((o) => o.status === 'SUCCESS') && volatile.every((o) => o.status === 'SUCCESS'), 'all acknowledged')
  const flush = ops.filter((o) => o.op === 'flush' && o.status === 'SUCCESS')
  t.ok(flush.length >= 1, 'the FLUSH succeeded')
  t.equal(lost.counts!.unflushed, 200, 'the 200 writes after the FLUSH are reported as unflushed')
  t.ok(lost.counts!.unflushedLostWords! > 0, `${lost.counts!.unflushedLostWords} of their words were lost with the restart`)
  t.ok((lost.notes ?? []).every((n) => n.kind === 'unflushed'), 'shown as unflushed notes')
  t.equal(r.json.runs[0].faultLog.filter((e: { kind: string }) => e.kind === 'kill' || e.kind === 'restart').length, 2, 'the kill and the restart are in the fault log')
})

t.test('server-kill-restart (shipped): the client reconnects and every checker passes', async (t) => {
  const r = await runScenario(t, shipped('server-kill-restart'), ['--json'], { config: TWO_CLIENT_CONFIG })
  t.equal(r.code, 0, `exit 0 ${r.stderr}`)
  const checks = readJson(join(r.runDir, 'deny', 'checks.json')) as CheckJson[]
  t.same(checks.filter((c) => !c.ok).map((c) => c.name), [], 'every checker passes')
  t.ok(r.json.runs[0].metrics.reconnects >= 1, 'the stream reconnected after the restart')
})
