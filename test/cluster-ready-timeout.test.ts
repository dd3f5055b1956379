import { join } from 'node:path'
import t from 'tap'
import { EmuError, ErrorCodes } from '../src/errors.ts'
import { launchCluster } from '../src/launcher/launch-cluster.ts'
import { loadConfig } from '../src/config/load-config.ts'
import { pidsMatching, reapAfter, ROOT, tempDir } from './cluster-helpers.ts'

t.test('cluster - ready timeout names the nodes that did not come up', async (t) => {
  const runDir = join(tempDir(t), 'run')
  reapAfter(t, runDir)
  const config = loadConfig(join(ROOT, 'cluster.config.json'))
  // Far too short for a node process to start: none can report ready.
  const err = await launchCluster({ config, runDir, readyTimeoutMs: 30, stopGraceMs: 500 }).catch((e: unknown) => e)
  t.ok(err instanceof EmuError, 'rejects with an EmuError')
  t.equal((err as EmuError).code, ErrorCodes.NODE_FAILED, 'code NODE_FAILED')
  t.match((err as EmuError).message, /did not come up within 30 ms: server0 .*client0 .*client1/, 'names every missing node')
  t.same(pidsMatching(runDir), [], 'every spawned node was stopped')
})
