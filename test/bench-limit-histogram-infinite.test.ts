import { spawn } from 'node:child_process'
import { join } from 'node:path'
import t from 'tap'
import { BIN, pidsMatching, reapAfter, tempDir, waitGone, writeConfig } from './cluster-helpers.ts'
import { ONE_CLIENT_CONFIG, startBench } from './helpers/bench-run.ts'

// -w (perftest's BW verifier limit: below it the run fails, exit 1),
// --perform_warm_up with it, -U / -H (perftest's "#, usec" sample lines),
// the options that are only reported (-d -x -F -R in the banner), and
// --run_infinitely (a line every -D seconds until SIGINT, which ends it
// cleanly: exit 0, no node process left).
const limited = startBench(t, ['write_bw', '-s', '1024', '-n', '200', '-w', '1000000', '--perform_warm_up'])
const unsorted = startBench(t, ['read_lat', '-n', '30', '-U', '-d', 'mlx5_0', '-x', '3', '-F', '-R'])

t.test('bench - -w above the bandwidth: exit 1 with perftest\'s message; --perform_warm_up reported', async (t) => {
  const r = await limited(t)
  t.equal(r.code, 1, 'below the limit: the run fails')
  t.match(r.stderr, /Error: BW result is below bw limit \(\d+\.\d{2} < 1000000 MiB\/sec\)/)
  t.match(r.stdout, /Warm-up\s+: an untimed run before the measured one/)
  t.match(r.stdout, /BW limit\s+: 1000000 \(-w\)/)
  t.match(r.stdout, /data check {6}: OK/, 'the data were right: only the limit failed')
})

t.test('bench - -U prints every sample in order; -d -x -F -R are reported in the banner', async (t) => {
  const r = await unsorted(t)
  t.equal(r.code, 0, r.stderr)
  const lines = r.stdout.split('\n')
  t.equal(lines[0], '#, usec', "perftest's header line")
  // perftest's measure_cnt: -n 30 gives 29 intervals (the last operation has none).
  const samples = lines.slice(1, 30)
  samples.forEach((l, i) => t.match(l, new RegExp(`^${i + 1}, \\d+(\\.\\d+)?(e[-+]\\d+)?$`), `sample ${i + 1}`))
  t.notMatch(lines[30], /^30, /, 'twenty-nine samples for -n 30')
  for (const re of [/Device\s+: mlx5_0 \(accepted/, /GID index\s+: 3 \(accepted/, /CPU freq check\s+: off/, /rdma_cm\s+: yes/]) t.match(r.stdout, re)
})

t.test('bench - --run_infinitely -D 1: a line a second until SIGINT, then exit 0 and nothing left', async (t) => {
  const dir = tempDir(t)
  const runDir = join(dir, 'run')
  reapAfter(t, runDir)
  const file = writeConfig(dir, ONE_CLIENT_CONFIG)
  const child = spawn(process.execPath, [BIN, 'bench', 'write_bw', '-s', '1024', '--run_infinitely', '-D', '1', '-c', file, '--run-dir', runDir], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  const rows = () => stdout.split('\n').filter((l) => /^ 1024\s+\d+\s+0\.00\s+\d+\.\d{2}\s+\d+\.\d{6}$/.test(l)).length
  const deadline = Date.now() + 60_000
  while (rows() < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100))
  t.ok(rows() >= 2, `${rows()} result lines before the interrupt`)
  child.kill('SIGINT')
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000)
  const code = await exited
  clearTimeout(timer)
  t.equal(code, 0, `SIGINT ends the run cleanly ${stderr}`)
  t.match(stdout, /Running infinitely: a line every 1 s until interrupted/)
  t.match(stdout, /BW peak won't be measured/)
  t.same(await waitGone(pidsMatching(runDir), 5000), [], 'no node process left behind')
})
