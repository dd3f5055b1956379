import { join } from 'node:path'
import t from 'tap'
import { runCli, tempDir, writeConfig } from './cluster-helpers.ts'

// Each option rule of `rdma-emu bench`: exit 2, a message naming the option,
// and no cluster started (the options are checked before any launch).
const rules: Array<[string, string[], RegExp]> = [
  ['unknown TEST', ['bench', 'write_bandwidth'], /TEST: unknown test "write_bandwidth"/],
  ['size 0 for atomics', ['bench', 'atomic_bw', '-s', '0'], /-s\/--size: atomic tests move exactly 8 bytes, got 0/],
  ['size 0', ['bench', 'write_bw', '-s', '0'], /-s\/--size: expected a size 1-2147483647/],
  ['non-numeric size', ['bench', 'read_lat', '-s', '4k'], /-s\/--size: .*got "4k"/],
  ['negative iterations', ['bench', 'write_bw', '-n', '-5'], /-n\/--iters: .*got "-5"/],
  ['-q 0', ['bench', 'write_bw', '-q', '0'], /-q\/--qp: .*got "0"/],
  ['tx depth over perftest\'s limit', ['bench', 'write_bw', '-t', '100000'], /-t\/--tx-depth: expected an integer 1-15000/],
  ['unknown atomic type', ['bench', 'atomic_lat', '-A', 'SWAP'], /-A\/--atomic_type: expected CMP_AND_SWAP or FETCH_AND_ADD/],
  ['atomic type on a non-atomic test', ['bench', 'write_lat', '-A', 'FETCH_AND_ADD'], /-A\/--atomic_type: only applies to atomic/],
  ['-D 0', ['bench', 'write_bw', '-D', '0'], /-D\/--duration: expected an integer 1-3600, got "0"/],
  ['-D with -n', ['bench', 'write_bw', '-D', '5', '-n', '100'], /-D\/--duration: not with -n\/--iters/],
  ['non-numeric -o', ['bench', 'read_bw', '-o', 'many'], /-o\/--outs: expected an integer .*got "many"/],
  ['-s above perftest\'s maximum', ['bench', 'write_bw', '-s', '2048M'], /-s\/--size: expected a size 1-2147483647 .*got "2048M"/],
  ['-s with junk after the number', ['bench', 'write_bw', '-s', '64KB'], /-s\/--size: .*got "64KB"/],
  ['-n below perftest\'s minimum', ['bench', 'write_bw', '-n', '4'], /-n\/--iters: expected an integer 5-/],
  ['-t above perftest\'s MAX_TX', ['bench', 'write_bw', '-t', '15001'], /-t\/--tx-depth: expected an integer 1-15000, got "15001"/],
  ['-f without room in the duration', ['bench', 'write_bw', '-D', '2', '-f', '1'], /-f\/--margin: the duration \(2 s\) must be longer than twice the margin \(1 s\)/],
  ['--attach nowhere', ['bench', 'write_bw', '--attach', '/nonexistent/rdma-emu-run'], /--attach: \/nonexistent\/rdma-emu-run: no such file or directory/],
  ['missing TEST', ['bench'], /missing required argument 'test'/],
  ['--extra-columns without a sweep', ['bench', 'write_bw', '--extra-columns'], /--extra-columns: only applies to a sweep/],
  ['--out_json_file in a missing directory', ['bench', 'write_bw', '--out_json_file', '/nonexistent/rdma-emu/out.json'], /--out_json_file: \/nonexistent\/rdma-emu\/out\.json: directory \/nonexistent\/rdma-emu does not exist/],
]

t.test('bench - bad options exit 2 naming the option', async (t) => {
  const results = await Promise.all(rules.map(([, args]) => runCli(args)))
  rules.forEach(([name, args, message], i) => {
    t.test(`bench - ${name}`, async (t) => {
      const r = results[i]!
      t.equal(r.code, 2, `rdma-emu ${args.join(' ')}: exit 2`)
      t.match(r.stderr, message, 'message names the option')
      t.equal(r.stdout, '', 'no table printed')
    })
  })
})

t.test('bench - --attach to a directory or file that is not a cluster.json exits 2', async (t) => {
  const dir = tempDir(t)
  const notJson = writeConfig(dir, 'not json', 'cluster.json')
  const noNodes = writeConfig(dir, { nodes: [] }, 'empty.json')
  const badEndpoint = writeConfig(dir, { nodes: [{ id: 'server0', role: 'server', pid: 1, endpoint: 'nowhere' }] }, 'bad-endpoint.json')
  const cases: Array<[string, RegExp]> = [
    [join(dir, 'sub'), /--attach: .*sub: no such file or directory/],
    [tempDir(t), /--attach: .*: no cluster\.json in this directory/],
    [notJson, /--attach: .*cluster\.json: not a cluster\.json/],
    [noNodes, /--attach: .*empty\.json: expected \{"nodes": \[\.\.\.\]\} with at least one node/],
    [badEndpoint, /--attach: .*bad-endpoint\.json: nodes\[0\]\.endpoint: expected tcp:\/\/HOST:PORT or ipc:\/\/PATH, got "nowhere"/],
  ]
  const results = await Promise.all(cases.map(([path]) => runCli(['bench', 'write_bw', '--attach', path])))
  cases.forEach(([path, message], i) => {
    t.equal(results[i]!.code, 2, `--attach ${path}: exit 2`)
    t.match(results[i]!.stderr, message, `--attach ${path}: the message names the option and the path`)
    t.equal(results[i]!.stdout, '', 'no table printed')
  })
})

t.test('bench - a config without a client node exits 2', async (t) => {
  const dir = tempDir(t)
  const config = writeConfig(dir, { name: 'solo', nodes: [{ id: 'server0', role: 'server', host: '127.0.0.1', port: 0 }] })
  const r = await runCli(['bench', 'write_bw', '-c', config])
  t.equal(r.code, 2)
  t.match(r.stderr, /needs at least one server node and one client node/)
})
