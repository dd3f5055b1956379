import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { writeKeyPair } from '../fabric/curve-keys.ts'
import { parseConfig } from '../src/config/load-config.ts'
import { launchCluster } from '../src/launcher/launch-cluster.ts'
import { Access } from '../src/verbs/constants.ts'
import { tempDir } from './cluster-helpers.ts'

// Authorisation on the control plane (issue 14, acceptance 3), over real
// node processes, without CURVE (identity = routing id) and with it
// (identity = the key each request proves). client0 registers a
// file MR on server0; client1's program, a second client, tries to read and
// write that MR by STag and to shut server0 down. All three are refused with
// ERR_NOT_AUTHORISED, nothing is written, server0 keeps running, and its
// refusal counters name the three commands and client1. The launcher (this
// test process) still reads the MR and stops the cluster.
const PROGRAM = `
export default async function (host) {
  const { data } = await host.recv({ tag: 'target' })
  const tries = {}
  const attempts = [
    ['read', 'verbs.mem.read', { stag: data.stag, offset: 0, length: 16 }],
    ['write', 'verbs.mem.write', { stag: data.stag, offset: 0, data: new Uint8Array(16).fill(0xee) }],
    ['shutdown', 'shutdown', null],
  ]
  for (const [name, type, body] of attempts) {
    try {
      const reply = await host.control.request('server0', type, body)
      tries[name] = { ok: true, reply: reply instanceof Uint8Array ? Array.from(reply) : reply }
    } catch (err) {
      tries[name] = { code: err.code }
    }
  }
  await host.send('@launcher', tries, 'tries')
}
`

for (const curve of [false, true]) {
t.test(`auth - a second client is refused another host's MR and shutdown, and the counters show it (${curve ? 'CURVE keys' : 'no keys'})`, async (t) => {
  const dir = tempDir(t)
  writeFileSync(join(dir, 'intruder.mjs'), PROGRAM)
  if (curve) {
    mkdirSync(join(dir, 'keys'))
    for (const name of ['server0', 'client0', 'client1', 'admin']) writeKeyPair(join(dir, 'keys'), name)
  }
  const config = parseConfig({
    name: 'auth-test',
    logLevel: 'warn',
    ...(curve ? { security: { curve: { keys: 'keys' } } } : {}),
    nodes: [
      { id: 'server0', role: 'server', server: { policy: 'unsafe-gup', workers: 0 } },
      { id: 'client0', role: 'client' },
      { id: 'client1', role: 'client', program: 'intruder.mjs' },
    ],
  }, 'config', { baseDir: dir })
  const cluster = await launchCluster({ config, runDir: join(dir, 'run') })
  t.teardown(() => cluster.stop())
  const c = cluster.control
  const tries = new Promise<Record<string, { ok?: boolean; code?: string; reply?: unknown }>>((resolve) => {
    c.handle('program.message', (body) => {
      resolve(body.data as Record<string, { code?: string }>)
      return {}
    })
  })

  // client0's MR over a file of server0, holding a pattern.
  const pattern = Uint8Array.from({ length: 4096 }, (_, i) => (i * 7 + 1) & 0xff)
  await c.request('server0', 'fs.create', { name: 'owned' })
  await c.request('server0', 'fs.write', { name: 'owned', offset: 0, data: pattern })
  const { pd } = await c.request('server0', 'verbs.pd.alloc')
  const mr = await c.request('client0', 'verbs.server.regFile', {
    node: 'server0', pd, file: 'owned', offset: 0, length: 4096, access: Access.LOCAL_WRITE | Access.REMOTE_READ | Access.REMOTE_WRITE,
  })

  await c.request('client1', 'program.message', { tag: 'target', data: { stag: mr.stag } })
  const got = await tries
  t.same(got.read, { code: 'ERR_NOT_AUTHORISED' }, "client1's mem.read of client0's MR: refused, no bytes")
  t.same(got.write, { code: 'ERR_NOT_AUTHORISED' }, "client1's mem.write of client0's MR: refused")
  t.same(got.shutdown, { code: 'ERR_NOT_AUTHORISED' }, "client1's shutdown of server0: refused")

  // Nothing was executed: server0 runs, the MR still holds the pattern (the launcher may read it).
  t.ok(cluster.isRunning('server0'), 'server0 still runs')
  t.same(await c.request('server0', 'ping', null), null, 'server0 still answers')
  const bytes = new Uint8Array(await c.request('server0', 'verbs.mem.read', { stag: mr.stag, offset: 0, length: 16 }))
  t.same(Array.from(bytes), Array.from(pattern.subarray(0, 16)), 'the launcher reads the MR: the pattern, not the refused write')

  const counters = await c.request('server0', 'auth.counters')
  delete counters.zap
  t.same(counters, {
    curve,
    refused: 3,
    byType: { 'verbs.mem.read': 1, 'verbs.mem.write': 1, shutdown: 1 },
    byCaller: { client1: 3 },
  }, 'the refusal counters show the mem.read, the mem.write and the shutdown, by client1')
  t.same((await c.request('client0', 'auth.counters')).refused, 0, 'client0 refused nothing')
  // The owner itself may: client0 deregisters its MR on server0 (with CURVE, its request proves client0's key).
  t.same(await c.request('client0', 'verbs.server.deregMr', { node: 'server0', stag: mr.stag }), {}, 'client0 deregisters its own MR')
  t.equal((await c.request('server0', 'auth.counters')).refused, 3, 'no further refusal')
})
}
