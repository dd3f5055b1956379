import { existsSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { pidsMatching, runCli, tempDir } from './cluster-helpers.ts'

// `rdma-emu scale`, run small (1 server, 3 clients): it reports every figure
// for every node, the all-clients write_bw passes its data check, and
// nothing is left behind: no process of the run. Figures only: no
// assertion on how fast anything was.
interface ScaleDoc {
  servers: number
  clients: number
  nodeFlags: string[]
  readyMs: number
  idleWindowMs: number
  nodes: Array<{ id: string; role: string; pid: number; idleRssBytes: number; idleCpuPercent: number; loadedRssBytes?: number }>
  writeBw: { size: number; itersPerClient: number; aggregateMiBps: number; bytes: number; problems: string[] }
  teardownMs: number
  leftBehind: number[]
  runDir: string | null
}

t.test('scale - a small run reports every figure and leaves nothing behind', async (t) => {
  const runDir = join(tempDir(t), 'run')
  const r = await runCli(['scale', '--servers', '1', '--clients', '3', '--workers', '1', '--idle-secs', '1', '-n', '50', '--json', '--run-dir', runDir], { timeoutMs: 180000 })
  t.equal(r.code, 0, `exit 0 ${r.stderr}`)
  const doc = JSON.parse(r.stdout) as ScaleDoc
  t.equal(doc.servers, 1)
  t.equal(doc.clients, 3)
  t.same(doc.nodes.map((n) => n.id), ['server0', 'client0', 'client1', 'client2'], 'one entry per node')
  t.ok(doc.readyMs > 0, `time to ready ${doc.readyMs.toFixed(0)} ms`)
  t.ok(doc.idleWindowMs >= 1000, 'an idle window of at least --idle-secs')
  for (const n of doc.nodes) {
    t.ok(n.idleRssBytes > 0 && (n.loadedRssBytes ?? 0) > 0, `${n.id}: RSS idle ${n.idleRssBytes}, after load ${n.loadedRssBytes}`)
    t.ok(n.idleCpuPercent >= 0, `${n.id}: idle CPU ${n.idleCpuPercent.toFixed(2)} %`)
  }
  t.equal(doc.writeBw.bytes, 3 * 50 * 65536, 'every client wrote all its WRITEs')
  t.ok(doc.writeBw.aggregateMiBps > 0)
  t.same(doc.writeBw.problems, [], 'data check ok')
  t.ok(doc.teardownMs > 0)
  t.same(doc.leftBehind, [], 'the benchmark saw nothing left behind')
  t.same(pidsMatching(runDir), [], 'and nothing of the run is running now')
  t.equal(doc.runDir, runDir, 'the given run directory is kept')
  t.ok(existsSync(join(runDir, 'launcher.log')))

  const scaleDirs = () => readdirSync(tmpdir()).filter((d) => d.startsWith('rdma-emu-scale-')).sort()
  const dirsBefore = scaleDirs()
  const text = await runCli(['scale', '--servers', '1', '--clients', '1', '--workers', '0', '--idle-secs', '1', '-n', '20'], { timeoutMs: 120000 })
  t.equal(text.code, 0, `table output: exit 0 ${text.stderr}`)
  for (const what of [/time to ready: /, /RSS per node, idle:/, /idle CPU per node over/, /aggregate [\d.]+ MiB\/s/, /data check: ok/, /teardown: /, /left behind: nothing/, /run directory: removed/]) t.match(text.stdout, what)
  t.same(scaleDirs(), dirsBefore, 'the temporary run directory is removed')

  const bad = await runCli(['scale', '--servers', '0'])
  t.equal(bad.code, 2, '--servers 0: exit 2')
})
