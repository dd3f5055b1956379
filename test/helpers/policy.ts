/**
 * Helpers for the pin-policy tests: a cluster with one server (the policy
 * under test) and one client node, the client's application side
 * (RemoteVerbs on client0: it registers the server's file MRs as itself and
 * runs WRITE workloads through them), and the server's counters.
 */
import type { Test } from 'tap'
import { startRdmaCluster, type RdmaCluster } from './rdma-cluster.ts'
import { PAGE, serverReq } from './odp.ts'
import { RemoteVerbs } from '../../src/verbs/remote-verbs.ts'
import { WrOpcode } from '../../src/verbs/constants.ts'
import type { ServerConfig } from '../../src/config/defaults.ts'
import type { MemStatsReply, PolicyStats } from '../../src/server/server-stats.ts'
import type { RemoteMr } from '../../src/verbs/remote-verbs-service.ts'
import type { WorkloadResult } from '../../src/verbs/workload.ts'

export { PAGE }

export interface PolicyRig {
  rc: RdmaCluster
  req: <T>(type: string, body?: unknown, timeoutMs?: number) => Promise<T>
  /** client0's application side. */
  client: RemoteVerbs
  /** A server PD the client's QPs land in. */
  pd: number
  /** A new RC QP from client0 into `pd`; returns client0's QP number. */
  connect(): Promise<number>
  stats(): Promise<MemStatsReply>
  policy(): Promise<PolicyStats>
}

let nextPort = 7000

export async function policyRig(t: Test, server: Partial<ServerConfig>, o: { clients?: number } = {}): Promise<PolicyRig> {
  const rc = await startRdmaCluster(t, { clients: o.clients ?? 1, server })
  const req = serverReq(rc)
  const pd = await rc.server.allocPd()
  const client = new RemoteVerbs(rc.cluster.control, 'client0')
  const stats = () => req<MemStatsReply>('mem.stats')
  return {
    rc, req, client, pd, stats,
    policy: async () => (await stats()).policy,
    async connect() {
      const port = nextPort++
      await rc.server.listen({ port, pd })
      return (await client.connect(rc.serverId, port)).qpn
    },
  }
}

export type Extent = { page: number; block: number; len: number }
export const blocksOf = (ext: Extent[]): number[] => ext.flatMap((e) => Array.from({ length: e.len }, (_, i) => e.block + i))

export async function fileBlocks(rig: PolicyRig, name: string): Promise<number[]> {
  return blocksOf(await rig.req<Extent[]>('fs.extents', { name }))
}

/** A DAX (default) or page-cached file of `pages` pages filled with `fill`. */
export async function makeFile(rig: PolicyRig, name: string, pages: number, fill: number, dax = true): Promise<void> {
  await rig.req('fs.create', { name, dax })
  await rig.req('fs.write', { name, offset: 0, data: new Uint8Array(pages * PAGE).fill(fill) })
}

/** Every byte of [offset, offset+length) of the file equals `fill`. */
export async function allBytes(rig: PolicyRig, name: string, offset: number, length: number, fill: number): Promise<boolean> {
  const got = await rig.req<Uint8Array>('fs.read', { name, offset, length })
  return got.length === length && got.every((x) => x === fill)
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** Poll until `fn` is true (or fail after `ms`). */
export async function until(what: string, fn: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`)
    await sleep(20)
  }
}

/** Wait until the server's data path has checked at least `n` more DMAs (the client is writing). */
export async function writesLand(rig: PolicyRig, n = 50): Promise<void> {
  const base = (await rig.stats()).oracle.checks
  await until(`${n} more DMAs on the server`, async () => (await rig.stats()).oracle.checks >= base + n)
}

/**
 * client0 keeps WRITING (zeros from its buffer) through `mr` on QP `qpn`: one
 * page per operation spread over `span` bytes of the MR, window 4, until it
 * is stopped, fails, or `count` are done. Resolves with the workload's result.
 */
export function keepWriting(rig: PolicyRig, qpn: number, mr: RemoteMr, o: { span?: number; size?: number; offset?: number; count?: number } = {}): Promise<WorkloadResult> {
  const size = o.size ?? PAGE
  return rig.client.workload(qpn, 4 * size, {
    opcode: WrOpcode.RDMA_WRITE, count: o.count ?? 10_000_000, window: 4, size,
    remoteAddr: mr.iova + (o.offset ?? 0), rkey: mr.stag, span: o.span ?? mr.length - (o.offset ?? 0),
  }, 60_000)
}
