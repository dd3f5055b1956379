import { join } from 'node:path'
import t from 'tap'
import { pidsMatching, reapAfter, runCli, tempDir } from './cluster-helpers.ts'

t.test('cluster - tour pings every pair and exits 0', async (t) => {
  const runDir = join(tempDir(t), 'run')
  reapAfter(t, runDir)
  const r = await runCli(['tour', '--count', '5', '--run-dir', runDir], { timeoutMs: 60000 })
  t.equal(r.code, 0, `tour exits 0 ${r.stderr}`)
  for (const [a, b] of [['server0', 'client0'], ['server0', 'client1'], ['client0', 'server0'], ['client0', 'client1'], ['client1', 'server0'], ['client1', 'client0']]) {
    t.match(r.stdout, new RegExp(`^${a}\\s+${b}\\s+5\\s+[\\d.]+\\s+[\\d.]+\\s+[\\d.]+\\s+[\\d.]+$`, 'm'), `round-trip row ${a} -> ${b}`)
  }
  t.match(r.stdout, /P99 µs/, 'table has the p99 column')
  t.match(r.stdout, /^write_bw\s+65536\s+\d+\s+BW average \[MiB\/sec\]\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+OK$/m, 'write_bw 64 KiB beside raw ZeroMQ')
  t.match(r.stdout, /^read_lat\s+8\s+\d+\s+t_typical \[usec\]\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+OK$/m, 'read_lat 8 B beside raw ZeroMQ')
  t.same(pidsMatching(runDir), [], 'torn down')
})
