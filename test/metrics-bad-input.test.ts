import { createServer, type AddressInfo } from 'node:net'
import { join } from 'node:path'
import t from 'tap'
import { defaultWith, validate } from './config-helpers.ts'
import { pidsMatching, runCli, tempDir, writeConfig } from './cluster-helpers.ts'

// Bad metrics settings are bad input: exit 2, naming the path or the option.
t.test('metrics - a hostname as metrics.host is refused', async (t) => {
  const r = await validate(t, defaultWith((c) => (c.metrics = { host: 'server1.lab', port: 9477 })))
  t.equal(r.code, 2)
  t.same(r.lines, ['metrics.host: expected an IP address to bind (such as "127.0.0.1"), got "server1.lab"'])
})

t.test('metrics - metrics.port out of range is refused', async (t) => {
  const r = await validate(t, defaultWith((c) => (c.metrics = { port: 70000 })))
  t.equal(r.code, 2)
  t.equal(r.lines.length, 1, r.stderr)
  t.match(r.lines[0], /^metrics\.port: /)
})

t.test('metrics - an unknown key in metrics is refused', async (t) => {
  const r = await validate(t, defaultWith((c) => (c.metrics = { prot: 9477 })))
  t.equal(r.code, 2)
  t.match(r.stderr, /metrics/, 'the path is named')
})

t.test('metrics - metrics.port on a node port of the same address is refused', async (t) => {
  const r = await validate(t, defaultWith((c) => {
    c.nodes[1]!.port = 7100
    c.metrics = { port: 7100 }
  }))
  t.equal(r.code, 2)
  t.same(r.lines, ['metrics.port: 7100 is also nodes[1].port on the same address'])
})

t.test('metrics - bad metrics options of up are refused before any node starts', async (t) => {
  const dir = tempDir(t)
  const cfg = writeConfig(dir, { logLevel: 'warn', nodes: [{ id: 'server0', role: 'server' }, { id: 'client0', role: 'client' }] })
  const runDir = join(dir, 'run')
  const cases: Array<[string[], RegExp]> = [
    [['--metrics-host', 'server1.lab'], /--metrics-host: expected an IP address/],
    [['--metrics-port', '70000'], /--metrics-port/],
    [['--metrics-port', 'x'], /--metrics-port/],
    [['--no-metrics', '--metrics-port', '0'], /--no-metrics: not with --metrics-port/],
  ]
  for (const [args, why] of cases) {
    const r = await runCli(['up', '-c', cfg, '--run-dir', runDir, ...args])
    t.equal(r.code, 2, `${args.join(' ')}: exit 2`)
    t.match(r.stderr, why, `${args.join(' ')}: says why`)
  }
  t.same(pidsMatching(runDir), [], 'no process was started')
})

t.test('metrics - a metrics port in use is bad input, for up and for node', async (t) => {
  const busy = createServer()
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', () => r()))
  t.teardown(() => new Promise<void>((r) => busy.close(() => r())))
  const port = String((busy.address() as AddressInfo).port)
  const dir = tempDir(t)
  const cfg = writeConfig(dir, { logLevel: 'warn', nodes: [{ id: 'server0', role: 'server' }, { id: 'client0', role: 'client' }] })
  const runDir = join(dir, 'run')
  const up = await runCli(['up', '-c', cfg, '--run-dir', runDir, '--metrics-port', port])
  t.equal(up.code, 2, `up: exit 2 ${up.stderr}`)
  t.match(up.stderr, new RegExp(`cannot serve on 127\\.0\\.0\\.1:${port} \\(--metrics-port, config metrics\\.port\\): EADDRINUSE`))
  const node = await runCli(['node', '--id', 'client0', '-c', cfg, '--run-dir', runDir, '--metrics-port', port])
  t.equal(node.code, 2, `node: exit 2 ${node.stderr}`)
  t.match(node.stderr, /EADDRINUSE/)
  t.same(pidsMatching(runDir), [], 'no process left')
})
