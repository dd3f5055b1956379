import { existsSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { BENCH_TESTS, parseBenchOptions } from '../src/bench/bench-options.ts'
import { ROOT, pidsMatching, reapAfter, runCommand, tempDir, waitGone, writeConfig } from './cluster-helpers.ts'
import { ONE_CLIENT_CONFIG } from './helpers/bench-run.ts'

// perftest's program names: `rdma-emu bench ib_write_bw ...` is `bench
// write_bw ...`, and each ib_<test> is installed as a command (package.json
// bin, nodes/ib_<test>.js), so a perftest command line runs with only the
// program name changed.

t.test('bench - ib_<test> is accepted as the TEST', async (t) => {
  for (const test of BENCH_TESTS) t.equal(parseBenchOptions(`ib_${test}`, {}).test, test, `ib_${test} is ${test}`)
  t.throws(() => parseBenchOptions('ib_write_bandwidth', {}), /TEST: unknown test "ib_write_bandwidth"/)
  t.throws(() => parseBenchOptions('ib_', {}), /TEST: unknown test/)
})

t.test('bench - every perftest program is a bin of the package, with its entry file', async (t) => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> }
  for (const test of BENCH_TESTS) {
    const file = pkg.bin[`ib_${test}`]
    t.equal(file, `nodes/ib_${test}.js`, `bin ib_${test}`)
    t.ok(existsSync(join(ROOT, file!)), `${file} exists`)
    t.ok(statSync(join(ROOT, file!)).mode & 0o111, `${file} is executable`)
    t.match(readFileSync(join(ROOT, file!), 'utf8'), /^#!\/usr\/bin\/env node\n/, `${file} starts with a node shebang`)
  }
})

t.test('bench - a perftest command line runs with only the program name changed', async (t) => {
  const dir = tempDir(t)
  const config = writeConfig(dir, ONE_CLIENT_CONFIG)
  const runDir = join(dir, 'run')
  reapAfter(t, runDir)
  // ib_write_bw -s 4K -n 100 -q 2 -t 16 (perftest's options), plus our cluster and output options.
  const r = await runCommand(process.execPath, [join(ROOT, 'nodes/ib_write_bw.js'), '-s', '4K', '-n', '100', '-q', '2', '-t', '16', '--json', '-c', config, '--run-dir', runDir], { cwd: ROOT, timeoutMs: 60000 })
  t.equal(r.code, 0, r.stderr)
  const doc = JSON.parse(r.stdout) as { results: Record<string, number>; rdma_emu: { test: string; dataCheck: { ok: boolean } } }
  t.equal(doc.rdma_emu.test, 'write_bw')
  t.equal(doc.results.MsgSize, 4096)
  t.equal(doc.results.n_iterations, 200, '100 iterations x 2 QPs')
  t.equal(doc.rdma_emu.dataCheck.ok, true)
  t.same(await waitGone(pidsMatching(runDir), 3000), [], 'no node process left behind')
  const bad = await runCommand(process.execPath, [join(ROOT, 'nodes/ib_read_lat.js'), '-n', '2'], { cwd: ROOT, timeoutMs: 30000 })
  t.equal(bad.code, 2, 'a bad option exits 2')
  t.match(bad.stderr, /-n\/--iters: expected an integer 5-/, 'naming the option')
})
