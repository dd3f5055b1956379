import { existsSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { parseConfig } from '../src/config/load-config.ts'
import { EmuError, ErrorCodes } from '../src/errors.ts'
import { startNode } from '../src/host/node-host.ts'
import { pidsMatching, reapAfter, runCli, tempDir, writeConfig } from './cluster-helpers.ts'
import { freePort, startAlone } from './helpers/alone-nodes.ts'

// A node started alone is ready only once every peer answers. When a peer
// never comes, the start fails after the ready timeout, naming each missing
// peer and why: client0 at its fixed endpoint never answered; client1 has
// port 0 and no entry in the run directory, so nobody knows where it is.
// Stopped while it waits, it exits 0.
t.test('cluster - a node alone whose peers never answer fails naming them', async (t) => {
  const dir = tempDir(t)
  const port = await freePort()
  const raw = {
    name: 'lonely',
    logLevel: 'warn',
    nodes: [
      { id: 'server0', role: 'server', port: 0, server: { workers: 0 } },
      { id: 'client0', role: 'client', port },
      { id: 'client1', role: 'client', port: 0 },
    ],
  }
  const runDir = join(dir, 'run')
  reapAfter(t, runDir)
  const r = await runCli(['node', '--id', 'server0', '-c', writeConfig(dir, raw), '--run-dir', runDir, '--ready-timeout', '1500'])
  t.equal(r.code, 1, `exit 1 ${r.stderr}`)
  t.match(r.stderr, new RegExp(`rdma-emu: node server0: not ready: 2 peers unreachable within 1500 ms: client0 at tcp://127\\.0\\.0\\.1:${port} \\(no answer\\); client1 \\(port 0 and no entry in \\S+: give it a fixed port, or start it on this machine with the same --run-dir\\)`), 'names each missing peer and why')
  t.notMatch(r.stdout, / ready at /, 'never said ready')
  t.ok(existsSync(join(runDir, 'nodes', 'server0.json')), 'its entry in the run directory says where it was')
  t.same(pidsMatching(runDir), [], 'no process of the run remains')

  // Stopped while it waits (Ctrl-C, SIGTERM): it stops at once, exit 0, as `up` stopped while starting.
  const waiting = startAlone(t, 'server0', ['-c', join(dir, 'cluster.config.json'), '--run-dir', runDir])
  await waiting.output(/waiting up to 60000 ms for 2 peers/)
  const stopped = await waiting.stop()
  t.equal(stopped.code, 0, 'SIGTERM while waiting: exit 0')
  t.match(waiting.stdout(), /node server0: stopped before its peers answered/, 'saying so')

  // The same through the API: the stable code, and the missing peers as data.
  const err = await startNode({ config: parseConfig(raw), id: 'server0', runDir: join(dir, 'api'), readyTimeoutMs: 1000 }).catch((e: unknown) => e)
  t.ok(err instanceof EmuError, 'startNode rejects with an EmuError')
  t.equal((err as EmuError).code, ErrorCodes.PEERS_UNREACHABLE, 'code PEERS_UNREACHABLE')
  t.same((err as EmuError).details, { missing: ['client0', 'client1'] }, 'naming client0 and client1')
})
