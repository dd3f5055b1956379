import t from 'tap'
import { parsePromText, sampleValue, type Family } from './helpers/prom-text.ts'
import { runCli, startUp, tempDir, waitGone, writeConfig } from './cluster-helpers.ts'

// Acceptance 4 of issue 14: a real `rdma-emu up --metrics-port 0` serves
// /metrics; the strict text-format parser reads every scrape; the counters
// move with traffic (an attached write_bw between two scrapes) and never go
// down; a node that does not answer (SIGSTOP) is `rdma_emu_up 0` in a scrape
// that still returns, and comes back to 1 once resumed.
const CONFIG = {
  name: 'metrics-scrape-test',
  logLevel: 'warn',
  // Peers must not take the paused node for dead during the test.
  fabric: { heartbeatIntervalMs: 250, heartbeatTimeoutMs: 20000 },
  nodes: [
    { id: 'server0', role: 'server', port: 0, server: { workers: 1 } },
    { id: 'client0', role: 'client', port: 0 },
    { id: 'client1', role: 'client', port: 0 },
  ],
}

const NODES = [['server0', 'server'], ['client0', 'client'], ['client1', 'client']] as const

async function scrape(url: string): Promise<{ families: Map<string, Family>; contentType: string | null }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(20000) })
  if (res.status !== 200) throw new Error(`GET ${url}: ${res.status}`)
  return { families: parsePromText(await res.text()), contentType: res.headers.get('content-type') }
}

const value = (f: Map<string, Family>, name: string, node: string, extra: Record<string, string> = {}) => sampleValue(f, name, { node, ...extra })

t.test('metrics - up serves /metrics and the counters move with traffic', async (t) => {
  const up = await startUp(t, ['-c', writeConfig(tempDir(t), CONFIG), '--metrics-port', '0'])
  const upLine = JSON.parse(up.stdout().split('\n').find((l) => l.includes('"event":"up"'))!) as { metrics?: string }
  t.match(upLine.metrics, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/, 'the up event names the endpoint, on loopback')
  const url = upLine.metrics!

  const first = await scrape(url)
  t.match(first.contentType, /^text\/plain; version=0\.0\.4/, 'the text format content type')
  const f1 = first.families
  for (const [node, role] of NODES) t.equal(sampleValue(f1, 'rdma_emu_up', { node, role }), 1, `${node} (${role}) answered`)
  for (const name of ['rdma_emu_packets_sent_total', 'rdma_emu_packets_received_total', 'rdma_emu_bytes_sent_total', 'rdma_emu_bytes_received_total']) {
    t.equal(f1.get(name)?.type, 'counter', `${name} is a counter`)
    t.same(f1.get(name)!.samples.map((s) => s.labels.node).sort(), ['client0', 'client1', 'server0'], `${name}: one series per node`)
  }
  t.same(f1.get('rdma_emu_naks_sent_total')!.samples.filter((s) => s.labels.node === 'server0').map((s) => s.labels.syndrome).sort(),
    ['invalid_request', 'psn_sequence_error', 'remote_access_error', 'remote_operational_error', 'rnr'], 'NAKs by syndrome')
  t.same(f1.get('rdma_emu_retransmissions_total')!.samples.filter((s) => s.labels.node === 'client0').map((s) => s.labels.cause).sort(), ['nak', 'rnr', 'timeout'], 'retransmissions by cause')
  for (const name of ['rdma_emu_pins_acquired_total', 'rdma_emu_pins_released_total', 'rdma_emu_odp_page_faults_total', 'rdma_emu_oracle_corrupt_bytes_total', 'rdma_emu_lease_breaks_total', 'rdma_emu_lease_revocations_total']) {
    t.equal(f1.get(name)?.type, 'counter', `${name} is a counter`)
    t.equal(value(f1, name, 'server0', { role: 'server' }), 0, `${name}: 0 on a fresh server`)
  }
  for (const name of ['rdma_emu_mrs', 'rdma_emu_pins_held', 'rdma_emu_worker_queue_depth', 'rdma_emu_node_resident_memory_bytes']) t.equal(f1.get(name)?.type, 'gauge', `${name} is a gauge`)
  t.equal(value(f1, 'rdma_emu_worker_queue_depth', 'server0'), 0, 'an idle data path has nothing queued')
  t.ok(value(f1, 'rdma_emu_node_resident_memory_bytes', 'client1') > 0, 'RSS per node')

  // Traffic: a write_bw from client0 to server0, attached to this cluster.
  const bench = await runCli(['bench', 'write_bw', '-n', '200', '--attach', up.runDir, '--json'], { timeoutMs: 60000 })
  t.equal(bench.code, 0, `attached bench exit 0 ${bench.stderr}`)
  const f2 = (await scrape(url)).families
  const moved = (name: string, node: string) => value(f2, name, node) - value(f1, name, node)
  t.ok(moved('rdma_emu_packets_received_total', 'server0') >= 200 * 16, `server0 received every packet of 200 x 64 KiB (${moved('rdma_emu_packets_received_total', 'server0')})`)
  t.ok(moved('rdma_emu_bytes_received_total', 'server0') >= 200 * 65536, `server0 received the bytes (${moved('rdma_emu_bytes_received_total', 'server0')})`)
  t.ok(moved('rdma_emu_packets_sent_total', 'client0') >= 200 * 16, 'client0 sent them')
  t.ok(moved('rdma_emu_packets_sent_total', 'server0') > 0, 'server0 sent its ACKs')
  t.equal(moved('rdma_emu_packets_sent_total', 'client1'), 0, 'client1 took no part')
  t.equal(value(f2, 'rdma_emu_mrs', 'server0'), 0, 'the bench deregistered its MRs: the gauge is back to 0')
  t.equal(value(f2, 'rdma_emu_pins_held', 'server0'), 0, 'no pin held after the run')
  t.equal(value(f2, 'rdma_emu_pins_acquired_total', 'server0'), value(f2, 'rdma_emu_pins_released_total', 'server0'), 'pins acquired == released')
  // Counter semantics: no series of a counter went down between the scrapes.
  for (const fam of f1.values()) {
    if (fam.type !== 'counter') continue
    for (const s of fam.samples) {
      const later = sampleValue(f2, fam.name, s.labels)
      if (later < s.value) t.fail(`${fam.name}${JSON.stringify(s.labels)} went down: ${s.value} -> ${later}`)
    }
  }
  t.pass('every counter series of the first scrape is still there and did not go down')

  // A node that does not answer: the scrape still returns, bounded by the scrape timeout.
  const paused = up.nodes.find((n) => n.id === 'client1')!
  process.kill(paused.pid, 'SIGSTOP')
  let f3: Map<string, Family>
  try {
    f3 = (await scrape(url)).families
  } finally {
    process.kill(paused.pid, 'SIGCONT')
  }
  t.equal(value(f3, 'rdma_emu_up', 'client1'), 0, 'the paused node is up 0')
  t.equal(value(f3, 'rdma_emu_up', 'server0'), 1, 'the others still answer')
  t.notOk(f3.get('rdma_emu_mrs')!.samples.some((s) => s.labels.node === 'client1'), 'no gauge reading for the silent node')
  t.equal(value(f3, 'rdma_emu_packets_sent_total', 'client1'), value(f2, 'rdma_emu_packets_sent_total', 'client1'), 'its counters keep their last value')
  const f4 = (await scrape(url)).families
  t.equal(value(f4, 'rdma_emu_up', 'client1'), 1, 'resumed: it answers again')

  const missing = await fetch(url.replace('/metrics', '/nothing'))
  t.equal(missing.status, 404, 'only /metrics is served')
  await missing.body?.cancel()

  up.child.kill('SIGINT')
  const exit = await up.exited
  t.equal(exit.code, 0, 'up stops with exit 0')
  t.same(await waitGone(up.nodes.map((n) => n.pid), 10000), [], 'no node process left')
  await t.rejects(fetch(url, { signal: AbortSignal.timeout(5000) }), 'the endpoint is closed with the cluster')
})
