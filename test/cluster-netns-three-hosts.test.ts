import { execFileSync, spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { BIN, pidsMatching, ROOT, runCommand, tempDir, waitGone, writeConfig } from './cluster-helpers.ts'
import { startAlone, type AloneNode } from './helpers/alone-nodes.ts'

// A cluster across three "machines": three network namespaces, each with a
// veth pair whose other end is on one bridge, built here (as root) and torn
// down after, whatever happens. One `rdma-emu node` per namespace, each with
// a run directory of its own, as on real machines. Then, from the server's
// namespace: an attached bench with its data check, an attached scenario
// with its verdict, and a cross-check of our delay fault against the
// kernel's: read_lat with `tc netem delay 5ms` on client0's veth, then with
// the emulator's own 5 ms delay fault on client0's packets, within 20%.
// Skipped, with the reason, where namespaces cannot be made (not root, no
// iproute2, no CAP_NET_ADMIN in a container).
const tag = process.pid.toString(36)
const NS = [1, 2, 3].map((i) => `rdma${tag}n${i}`)
const BRIDGE = `rbr${tag}`
/** veth ends: on the bridge (root namespace), and inside each namespace. */
const HOST_END = [1, 2, 3].map((i) => `rvh${tag}${i}`)
const NS_END = [1, 2, 3].map((i) => `rvn${tag}${i}`)
const ADDR = ['10.77.0.1', '10.77.0.2', '10.77.0.3']
const PORT = 17100
const DELAY_MS = 5

function run(cmd: string, args: string[]): { ok: boolean; out: string } {
  try {
    return { ok: true, out: execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' }) }
  } catch (err) {
    const e = err as { stderr?: string; message: string }
    return { ok: false, out: (e.stderr || e.message).trim() }
  }
}

/** Why this machine cannot run the test, or undefined. */
function cannotRun(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root: building network namespaces needs CAP_NET_ADMIN'
  if (spawnSync('ip', ['-V']).error) return 'no `ip` command (iproute2)'
  const probe = `rdma${tag}probe`
  const made = run('ip', ['netns', 'add', probe])
  if (!made.ok) return `cannot create a network namespace (${made.out})`
  run('ip', ['netns', 'del', probe])
  return undefined
}

/** Every namespace, link and bridge of this test, gone (each step may fail: what never existed). */
function destroy(): void {
  for (const ns of NS) run('ip', ['netns', 'del', ns])
  for (const l of [...HOST_END, BRIDGE]) run('ip', ['link', 'del', l])
}

function left(): string[] {
  const ns = run('ip', ['netns', 'list']).out
  const links = run('ip', ['-o', 'link', 'show']).out
  return [...NS, BRIDGE, ...HOST_END].filter((n) => ns.includes(n) || links.includes(`${n}:`) || links.includes(`${n}@`))
}

/** The bridge, and each namespace on it at ADDR[i]/24. Throws naming the step that failed. */
function build(): void {
  const must = (args: string[]) => {
    const r = run('ip', args)
    if (!r.ok) throw new Error(`ip ${args.join(' ')}: ${r.out}`)
  }
  // Bridged frames skip the host's iptables (br_netfilter would run them through its FORWARD chain).
  if (!run('ip', ['link', 'add', BRIDGE, 'type', 'bridge', 'nf_call_iptables', '0']).ok) must(['link', 'add', BRIDGE, 'type', 'bridge'])
  must(['link', 'set', BRIDGE, 'up'])
  NS.forEach((ns, i) => {
    must(['netns', 'add', ns])
    must(['link', 'add', HOST_END[i]!, 'type', 'veth', 'peer', 'name', NS_END[i]!])
    must(['link', 'set', HOST_END[i]!, 'master', BRIDGE])
    must(['link', 'set', HOST_END[i]!, 'up'])
    must(['link', 'set', NS_END[i]!, 'netns', ns])
    must(['-n', ns, 'addr', 'add', `${ADDR[i]}/24`, 'dev', NS_END[i]!])
    must(['-n', ns, 'link', 'set', NS_END[i]!, 'up'])
    must(['-n', ns, 'link', 'set', 'lo', 'up'])
  })
}

/** `rdma-emu ARGS` inside namespace `ns`. */
function inNs(ns: string, args: string[], timeoutMs = 120000) {
  return runCommand('ip', ['netns', 'exec', ns, process.execPath, BIN, ...args], { cwd: ROOT, timeoutMs })
}

interface LatDoc {
  results: { t_typical: number; t_avg: number; n_iterations: number }
  rdma_emu: { dataCheck: { ok: boolean; problems: string[] } }
}

const why = cannotRun()
if (why) t.comment(`cluster-netns-three-hosts skipped: ${why}`)

t.test('cluster - three network namespaces: node by node, attached bench and scenario, netem cross-check', { skip: why ?? false }, async (t) => {
  t.teardown(destroy)
  build()
  const dir = tempDir(t)
  const cfg = writeConfig(dir, {
    name: 'netns-three-hosts',
    logLevel: 'warn',
    nodes: [
      // Every interface of its namespace, reached at its bridge address.
      { id: 'server0', role: 'server', bind: '0.0.0.0', advertise: ADDR[0], port: PORT, server: { workers: 1 } },
      { id: 'client0', role: 'client', host: ADDR[1], port: PORT },
      { id: 'client1', role: 'client', bind: ADDR[2], advertise: ADDR[2], port: PORT },
    ],
  })
  const runDirs = NS.map((_, i) => join(dir, `host${i + 1}`))
  t.teardown(async () => {
    const stray = runDirs.flatMap((d) => pidsMatching(d))
    for (const pid of stray) process.kill(pid, 'SIGKILL')
    await waitGone(stray, 5000)
  })
  const ids = ['server0', 'client0', 'client1']
  const nodes: AloneNode[] = ids.map((id, i) => startAlone(t, id, ['-c', cfg, '--run-dir', runDirs[i]!, '--ready-timeout', '30000'], { prefix: ['ip', 'netns', 'exec', NS[i]!] }))
  for (const line of await Promise.all(nodes.map((n) => n.ready))) t.comment(line)
  t.pass('every node reported ready: each reached both peers across the bridge')

  const file = JSON.parse(readFileSync(join(runDirs[0]!, 'cluster.json'), 'utf8')) as { nodes: Array<{ id: string; endpoint: string; pid?: number }> }
  t.same(file.nodes.map((n) => [n.id, n.endpoint, n.pid !== undefined]), ids.map((id, i) => [id, `tcp://${ADDR[i]}:${PORT}`, i === 0]),
    "host 1's run file: every node at its advertised endpoint, a pid only for its own")

  const bench = await inNs(NS[0]!, ['bench', 'write_bw', '-n', '500', '--attach', runDirs[0]!, '--json'])
  t.equal(bench.code, 0, `attached bench: exit 0 ${bench.stderr}`)
  const bw = JSON.parse(bench.stdout) as { results: { BW_average: number }; rdma_emu: { dataCheck: { ok: boolean; problems: string[] } } }
  t.comment(`attached bench write_bw across namespaces: BW_average ${bw.results.BW_average} MB/s, data check ${JSON.stringify(bw.rdma_emu.dataCheck)}`)
  t.same(bw.rdma_emu.dataCheck, { ok: true, problems: [] }, 'the attached bench: data check passes')

  const sc = await inNs(NS[0]!, ['run', 'lossy-fabric', '--attach', runDirs[0]!, '--run-dir', join(dir, 'scenario')])
  const verdict = sc.stdout.split('\n').filter((l) => /EXPECT|upstream|expectations held/.test(l))
  t.comment(`attached scenario lossy-fabric, verdict:\n${verdict.join('\n')}`)
  t.equal(sc.code, 0, `attached scenario: exit 0 ${sc.stderr}`)
  t.match(sc.stdout, /7 of 7 expectations held/, 'the attached scenario: every expectation held')

  // The kernel's delay needs tc and sch_netem (CONFIG_NET_SCH_NETEM): tried once on client0's veth.
  const tc = ['netns', 'exec', NS[1]!, 'tc', 'qdisc']
  const netem = ['dev', NS_END[1]!, 'root', 'netem', 'delay', `${DELAY_MS}ms`]
  const probe = spawnSync('tc', ['-V']).error ? { ok: false, out: 'no `tc` command (iproute2)' } : run('ip', [...tc, 'add', ...netem])
  if (probe.ok) run('ip', [...tc, 'del', 'dev', NS_END[1]!, 'root'])
  const noNetem = probe.ok ? undefined : `no kernel netem here: tc qdisc add ${netem.join(' ')}: ${probe.out}`
  if (noNetem) t.comment(`netem cross-check skipped: ${noNetem}`)
  await t.test('read_lat under tc netem delay and under our delay fault of the same size', { skip: noNetem ?? false }, async (t) => {
    const readLat = async (what: string): Promise<LatDoc> => {
      const r = await inNs(NS[0]!, ['bench', 'read_lat', '-n', '300', '--attach', runDirs[0]!, '--json'])
      t.equal(r.code, 0, `read_lat ${what}: exit 0 ${r.stderr}`)
      const doc = JSON.parse(r.stdout) as LatDoc
      t.comment(`read_lat ${what}: t_typical ${doc.results.t_typical} us, t_avg ${doc.results.t_avg} us`)
      return doc
    }
    const plain = await readLat('with no delay')
    // The kernel's: every packet client0 sends leaves its veth 5 ms late.
    const added = run('ip', [...tc, 'add', ...netem])
    t.ok(added.ok, `tc qdisc add ${netem.join(' ')} ${added.out}`)
    let kernel: LatDoc
    try {
      kernel = await readLat(`with tc netem delay ${DELAY_MS}ms on client0's veth`)
    } finally {
      run('ip', [...tc, 'del', 'dev', NS_END[1]!, 'root'])
    }
    // Ours: the same delay on client0's data packets to server0 (fabric.faults.add, a netem rule).
    const rule = (op: string, ...rest: string[]) =>
      runCommand('ip', ['netns', 'exec', NS[0]!, process.execPath, '--import', 'tsx', join(ROOT, 'test/helpers/netns-delay-rule.ts'), op, runDirs[0]!, 'client0', ...rest], { cwd: ROOT, timeoutMs: 30000 })
    const on = await rule('add', 'server0', String(DELAY_MS))
    t.equal(on.code, 0, `fabric.faults.add delay ${DELAY_MS} ms on client0 -> server0 ${on.stderr}`)
    let ours: LatDoc
    try {
      ours = await readLat(`with the emulator's delay fault of ${DELAY_MS} ms`)
    } finally {
      const off = await rule('remove')
      t.equal(off.code, 0, `fabric.faults.remove ${off.stderr}`)
    }
    t.ok(kernel.results.t_typical > plain.results.t_typical + DELAY_MS * 500, 'the kernel delay shows in read_lat (the comparison means something)')
    const ratio = ours.results.t_typical / kernel.results.t_typical
    t.comment(`read_lat t_typical: ours ${ours.results.t_typical} us / kernel ${kernel.results.t_typical} us = ${ratio.toFixed(3)}`)
    t.ok(ratio >= 0.8 && ratio <= 1.2, `our delay fault gives a read_lat within 20% of the kernel's (ratio ${ratio.toFixed(3)})`)
  })

  const exits = await Promise.all(nodes.map((n) => n.stop()))
  t.same(exits.map((e) => e.code), [0, 0, 0], 'SIGTERM: every node exits 0')
  t.same(await waitGone(nodes.map((n) => n.pid), 10000), [], 'no node process remains')
  destroy()
  t.same(left(), [], 'no namespace, veth or bridge of the test remains')
})
