import { join } from 'node:path'
import t from 'tap'
import { pidsMatching, reapAfter, runCli, tempDir } from './cluster-helpers.ts'

t.test('cluster - tour pings every pair, runs perftest and the truncate race, and exits 0', async (t) => {
  const runDir = join(tempDir(t), 'run')
  reapAfter(t, runDir)
  const r = await runCli(['tour', '--count', '5', '--run-dir', runDir], { timeoutMs: 110_000 })
  t.equal(r.code, 0, `tour exits 0 ${r.stderr}`)
  for (const [a, b] of [['server0', 'client0'], ['server0', 'client1'], ['client0', 'server0'], ['client0', 'client1'], ['client1', 'server0'], ['client1', 'client0']]) {
    t.match(r.stdout, new RegExp(`^${a}\\s+${b}\\s+5\\s+[\\d.]+\\s+[\\d.]+\\s+[\\d.]+\\s+[\\d.]+$`, 'm'), `round-trip row ${a} -> ${b}`)
  }
  t.match(r.stdout, /P99 µs/, 'table has the p99 column')
  t.match(r.stdout, /^write_bw\s+65536\s+\d+\s+BW average \[MiB\/sec\]\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+OK$/m, 'write_bw 64 KiB beside raw ZeroMQ')
  t.match(r.stdout, /^read_lat\s+8\s+\d+\s+t_typical \[usec\]\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+OK$/m, 'read_lat 8 B beside raw ZeroMQ')
  // The truncate race: one row per policy, as each policy promises (the scenario's expectations held).
  const rows: Array<[string, RegExp]> = [
    ['upstream', /^upstream\s+EOPNOTSUPP→ODP\s+ok\s+[\d.]+\s+0\s+-\s+\d+\s+\d+ REM_ACCESS_ERR\s+0\/0\s+0\/0$/m],
    ['unsafe-gup', /^unsafe-gup\s+pinned\s+ok\s+[\d.]+\s+[1-9]\d*\s+B\.dat\s+\d+\s+0\s+0\/0\s+16\/16$/m],
    ['deny', /^deny\s+pinned\s+ETXTBSY\s+[\d.]+\s+0\s+-\s+\d+\s+0\s+0\/0\s+16\/16$/m],
    ['truncate-extend', /^truncate-extend\s+pinned\s+ok\s+[\d.]+\s+0\s+-\s+\d+\s+0\s+0\/0\s+16\/16$/m],
    ['layout-lease', /^layout-lease\s+pinned\s+ok\s+[\d.]+\s+0\s+-\s+\d+\s+0 \(stopped\)\s+1\/0\s+16\/16$/m],
    ['exclusive-lease', /^exclusive-lease\s+pinned\s+ETXTBSY\s+[\d.]+\s+0\s+-\s+\d+\s+0\s+0\/0\s+16\/16$/m],
    ['odp', /^odp\s+ODP \(policy\)\s+ok\s+[\d.]+\s+0\s+-\s+\d+\s+\d+ REM_ACCESS_ERR\s+0\/0\s+0\/0$/m],
  ]
  t.equal(rows.length, 7, 'seven policies')
  for (const [policy, row] of rows) t.match(r.stdout, row, `truncate race row: ${policy}`)
  t.match(r.stdout, /^(\d+) of \1 expectations held$/m, 'every expectation of the truncate race held')
  t.same(pidsMatching(runDir), [], 'torn down')
})
