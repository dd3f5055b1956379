/**
 * Test harness for RDMA tests over real processes: launches a cluster of
 * real node processes on loopback ZeroMQ, and makes the test process itself
 * a client host (an RDMA device on the launcher's fabric endpoint). The
 * server's application side is driven with RemoteVerbs.
 */
import type { Test } from 'tap'
import { applyDefaults, type ServerConfig } from '../../src/config/defaults.ts'
import { launchCluster, type Cluster } from '../../src/launcher/launch-cluster.ts'
import { attachRdma } from '../../src/host/rdma-service.ts'
import { RemoteVerbs } from '../../src/verbs/remote-verbs.ts'
import type { RdmaHosts } from './rdma-connect.ts'

export { ALL_ACCESS, PMEM_ACCESS, connect, pattern, type Connection, type RdmaHosts } from './rdma-connect.ts'

export interface RdmaCluster extends RdmaHosts {
  cluster: Cluster
}

export interface RdmaClusterOptions {
  timeScale?: number
  servers?: number
  clients?: number
  fabric?: { heartbeatIntervalMs?: number; heartbeatTimeoutMs?: number }
  /**
   * Server settings over the defaults, e.g. the pin policy: the default is
   * "upstream" (Linux today), which refuses long-term pins on DAX files and
   * writable ones on page-cached files, so tests that register pinned file
   * MRs say which policy they mean.
   */
  server?: Partial<ServerConfig>
}

export async function startRdmaCluster(t: Test, o: RdmaClusterOptions = {}): Promise<RdmaCluster> {
  const nodes: unknown[] = []
  for (let i = 0; i < (o.servers ?? 1); i++) nodes.push({ id: `server${i}`, role: 'server', host: '127.0.0.1', port: 0, ...(o.server ? { server: o.server } : {}) })
  for (let i = 0; i < (o.clients ?? 0); i++) nodes.push({ id: `client${i}`, role: 'client', host: '127.0.0.1', port: 0 })
  const config = applyDefaults({ name: 'test', logLevel: 'warn', timeScale: o.timeScale ?? 1, fabric: o.fabric, nodes })
  const cluster = await launchCluster({ config, runDir: t.testdir() })
  const local = attachRdma(cluster.control, { timeScale: o.timeScale ?? 1 })
  t.teardown(async () => {
    local.close()
    await cluster.stop()
  })
  return { cluster, local, server: new RemoteVerbs(cluster.control, 'server0'), serverId: 'server0' }
}
