import { spawn } from 'node:child_process'
import { join } from 'node:path'
import t from 'tap'
import { parsePromText, sampleValue } from './helpers/prom-text.ts'
import { BIN, ROOT, pidsMatching, reapAfter, tempDir, waitGone, writeConfig } from './cluster-helpers.ts'

// `rdma-emu node` started by hand, with a `metrics` block in its
// configuration, serves its own /metrics (no launcher gathers for it): the
// same series, labelled with its id and role. SIGINT stops the node and
// the endpoint, exit 0, nothing left.
t.test('metrics - a node run alone serves its own /metrics', async (t) => {
  const dir = tempDir(t)
  const runDir = join(dir, 'run')
  const cfg = writeConfig(dir, { logLevel: 'warn', metrics: { host: '127.0.0.1', port: 0 }, nodes: [{ id: 'solo', role: 'server', server: { workers: 1 } }] })
  const child = spawn(process.execPath, [BIN, 'node', '--id', 'solo', '-c', cfg, '--run-dir', runDir], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  reapAfter(t, runDir, () => [child.pid!])
  let stdout = ''
  let stderr = ''
  child.stderr.on('data', (d) => (stderr += d))
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)))
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no metrics line within 30 s\n${stdout}\n${stderr}`)), 30000)
    child.stdout.on('data', (d) => {
      stdout += d
      const m = /node solo: metrics at (http:\/\/127\.0\.0\.1:\d+\/metrics)/.exec(stdout)
      if (m) {
        clearTimeout(timer)
        resolve(m[1]!)
      }
    })
    void exited.then((code) => {
      clearTimeout(timer)
      reject(new Error(`node exited early (${code})\n${stdout}\n${stderr}`))
    })
  })
  const res = await fetch(url, { signal: AbortSignal.timeout(20000) })
  t.equal(res.status, 200)
  const f = parsePromText(await res.text())
  t.equal(sampleValue(f, 'rdma_emu_up', { node: 'solo', role: 'server' }), 1, 'the node itself, up')
  t.equal(sampleValue(f, 'rdma_emu_packets_received_total', { node: 'solo' }), 0, 'no traffic yet')
  t.equal(sampleValue(f, 'rdma_emu_worker_queue_depth', { node: 'solo' }), 0, 'its data path queue')
  t.equal(sampleValue(f, 'rdma_emu_data_path_workers', { node: 'solo' }), 1, 'with the one worker of its configuration')
  t.equal(sampleValue(f, 'rdma_emu_mrs', { node: 'solo' }), 0)
  t.ok(sampleValue(f, 'rdma_emu_node_resident_memory_bytes', { node: 'solo' }) > 0, 'its RSS')
  t.same(f.get('rdma_emu_up')!.samples.map((s) => s.labels.node), ['solo'], 'only its own series')
  child.kill('SIGINT')
  t.equal(await exited, 0, 'SIGINT: exit 0')
  t.same(await waitGone([child.pid!], 5000), [], 'the node is gone')
  t.same(pidsMatching(runDir), [], 'nothing of the run left')
  await t.rejects(fetch(url, { signal: AbortSignal.timeout(5000) }), 'the endpoint closed with the node')
})
