import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { curveKeyPair, Dealer, type Event } from 'zeromq'
import { readKeyFile, writeKeyPair } from '../fabric/curve-keys.ts'
import { controlFrame } from '../fabric/frame.ts'
import { parseConfig } from '../src/config/load-config.ts'
import { launchCluster } from '../src/launcher/launch-cluster.ts'
import { attachCluster, readClusterFile } from '../src/launcher/attach-cluster.ts'
import { runCli, tempDir, writeConfig } from './cluster-helpers.ts'

// ZeroMQ CURVE on the fabric (issue 14, acceptance 2). A cluster whose
// configuration names keys: the launcher (this test, with the admin key)
// runs it; two rogue DEALERs connect to server0's port and send it a control
// request that would create a file: one with no key (plain ZeroMQ), one a
// CURVE client with a key that is not on the allow-list, under the
// launcher's own routing id. Both fail the handshake, get no reply (nothing
// is queued for them), and their request is not executed; server0's ZAP
// counted the refused key. The right keys work: a whole keyed cluster runs
// `bench write_bw` and its data check passes.
const KEYED_NODES = [
  { id: 'server0', role: 'server', server: { workers: 1 } },
  { id: 'client0', role: 'client' },
]

function keyedConfig(dir: string): Record<string, unknown> {
  const keys = join(dir, 'keys')
  mkdirSync(keys)
  for (const name of ['server0', 'client0', 'admin']) writeKeyPair(keys, name)
  return { name: 'curve-test', logLevel: 'warn', security: { curve: { keys: 'keys' } }, nodes: KEYED_NODES }
}

/** The first handshake outcome of a socket (success or any handshake error). */
async function handshake(socket: Dealer): Promise<Event['type']> {
  for (;;) {
    const e = await socket.events.receive()
    if (e.type.startsWith('handshake')) return e.type
  }
}

/** `p`, or `fallback` once `ms` have passed: no step of the test waits without bound. */
function within<T>(p: Promise<T>, ms: number, fallback: T): Promise<T> {
  return Promise.race([p, new Promise<T>((resolve) => setTimeout(() => resolve(fallback), ms).unref())])
}

/** Whatever has arrived on a socket by now, without waiting. */
async function queued(socket: Dealer): Promise<Buffer[][]> {
  const out: Buffer[][] = []
  socket.receiveTimeout = 0
  for (;;) {
    try {
      out.push(await socket.receive())
    } catch {
      return out
    }
  }
}

t.test('curve - a node with a wrong or missing key is refused and gets nothing', async (t) => {
  const dir = tempDir(t)
  const config = parseConfig(keyedConfig(dir), 'config', { baseDir: dir })
  const cluster = await launchCluster({ config, runDir: join(dir, 'run') })
  t.teardown(() => cluster.stop())
  const c = cluster.control
  const endpoint = cluster.node('server0').endpoint
  const serverKey = readKeyFile(join(dir, 'keys', 'server0.key'), 'server0')

  const noKey = new Dealer({ routingId: '@launcher', linger: 0 })
  const rogue = curveKeyPair()
  const wrongKey = new Dealer({ routingId: '@launcher', linger: 0, curveServerKey: serverKey, curvePublicKey: rogue.publicKey, curveSecretKey: rogue.secretKey })
  t.teardown(() => {
    noKey.close()
    wrongKey.close()
  })
  const outcomes = [handshake(noKey), handshake(wrongKey)]
  noKey.connect(endpoint)
  wrongKey.connect(endpoint)
  // Queued before the handshake ends: libzmq sends it only over a connection that completes.
  // (A send that finds no pipe within 2 s is not even queued: EAGAIN, which is as good.)
  noKey.sendTimeout = 2000
  wrongKey.sendTimeout = 2000
  await noKey.send(controlFrame({ t: 'fs.create', id: 1, body: { name: 'rogue-nokey' } })).catch(() => {})
  await wrongKey.send(controlFrame({ t: 'fs.create', id: 1, body: { name: 'rogue-wrongkey' } })).catch(() => {})
  // libzmq reports the NULL-against-CURVE mechanism mismatch as an 'other' handshake error,
  // or, on a loaded machine, may report nothing before the server drops the connection: never success.
  const noKeyOutcome = await within(outcomes[0]!, 10_000, 'no handshake event')
  t.not(noKeyOutcome, 'handshake:succeeded', `the client with no key is not admitted (${noKeyOutcome})`)
  t.ok(noKeyOutcome === 'no handshake event' || noKeyOutcome.startsWith('handshake:error:'), 'its handshake fails (mechanism mismatch), or never completes')
  t.equal(await within(outcomes[1]!, 20_000, 'no handshake event'), 'handshake:error:auth', 'the CURVE client with an unlisted key is refused by ZAP')

  t.same(await queued(noKey), [], 'no reply, no frame at all, for the client with no key')
  t.same(await queued(wrongKey), [], 'no reply, no frame at all, for the client with the wrong key')
  const files = await c.request('server0', 'fs.list')
  t.notOk(files.includes('rogue-nokey') || files.includes('rogue-wrongkey'), `neither request was executed (files: ${JSON.stringify(files)})`)
  // The right key is admitted on the same port: a tool attached with the admin key.
  const tool = await attachCluster(readClusterFile(join(dir, 'run')), { name: 'tool' })
  t.teardown(() => tool.close())
  t.same(await tool.control.request('server0', 'fs.list'), files, 'a tool attached with the admin key gets its answer')
  // The launcher's admin key proves itself on each request: an admin-only command is served.
  t.same(await c.request('server0', 'fabric.faults.clear'), {}, "the launcher's fault control (admin key) is served")
  const auth = await c.request('server0', 'auth.counters')
  t.equal(auth.curve, true, 'server0 runs CURVE')
  t.equal(auth.refused, 0, 'no request of the admin key or of client0 was refused')
  t.ok(auth.zap && auth.zap.refused >= 1, `server0's ZAP refused the unlisted key (${JSON.stringify(auth.zap)})`)
  t.ok(auth.zap && auth.zap.accepted >= 2, `and admitted the cluster's own keys (client0's and the tool's connections): ${JSON.stringify(auth.zap)}`)
  const stats = await c.request('server0', 'stats')
  t.same(stats.peers.map((p) => p.id).filter((id) => id !== tool.id).sort(), ['@launcher', 'client0'], 'server0 knows no rogue: only the launcher, client0 and the tool')

  // A restarted node comes back with its key (the launcher hands it the launcher's public key again).
  await cluster.restartNode('client0')
  t.same(await c.request('client0', 'ping', null), null, 'client0 restarted under CURVE answers')
  t.same(await c.request('client0', 'ping-peer', { peer: 'server0', count: 5, warmup: 1 }).then((r) => r.count), 5, 'and reaches server0 again')
})

t.test('curve - the right keys work: a keyed cluster runs bench with its data check', async (t) => {
  const dir = tempDir(t)
  const file = writeConfig(dir, keyedConfig(dir))
  const r = await runCli(['bench', 'write_bw', '-c', file, '-n', '200', '--json', '--run-dir', join(dir, 'run')], { timeoutMs: 90000 })
  t.equal(r.code, 0, `bench exits 0 ${r.stderr}`)
  const doc = JSON.parse(r.stdout) as { results: { n_iterations: number; BW_average: number }; rdma_emu: { dataCheck: { ok: boolean; problems: string[] } } }
  t.equal(doc.results.n_iterations, 200)
  t.ok(doc.results.BW_average > 0, `bandwidth ${doc.results.BW_average} > 0`)
  t.same(doc.rdma_emu.dataCheck, { ok: true, problems: [] }, 'the data check passes over CURVE')
  t.notMatch(r.stderr, /no CURVE keys/, 'no plain-fabric warning with keys')
})
