/**
 * Checkers over the end state of the cluster rather than the history:
 * (e) nothing is left on the servers, (f) the nodes that were not killed are
 * alive, (g) corruption (the oracle) only under policies that permit it.
 */

import { AnomalyList, makeResult, num, type CheckResult } from './result.ts'

/** What one server still holds at the end of a run (after every client left). */
export interface ServerLeftovers {
  server: string
  /** Pinned pages still held. */
  pins: { held: number }
  /** Registered MRs, layout leases and QPs still there. */
  mrs: number
  leases: number
  qps: number
}

/** (e) Every server ends with no pins, MRs, leases or QPs. */
export function checkLeftovers(servers: ServerLeftovers[]): CheckResult {
  const anomalies = new AnomalyList()
  let left = 0
  for (const s of servers) {
    const held: Array<[string, number]> = [['pins', s.pins.held], ['MRs', s.mrs], ['leases', s.leases], ['QPs', s.qps]]
    for (const [what, n] of held) {
      if (n === 0) continue
      left += n
      anomalies.add({ kind: 'leftover', message: `server ${s.server} still holds ${num(n)} ${what}`, ops: [] })
    }
  }
  return makeResult('leftovers', `${num(servers.length)} servers, ${num(left)} resources left`, anomalies, { servers: servers.length, left })
}

/** A node at the end of a run: whether the scenario killed it, and whether it is alive. */
export interface NodeLiveness {
  id: string
  killed: boolean
  alive: boolean
}

/** (f) Every node the scenario did not kill is alive. */
export function checkAlive(nodes: NodeLiveness[]): CheckResult {
  const anomalies = new AnomalyList()
  for (const n of nodes) {
    if (!n.killed && !n.alive) anomalies.add({ kind: 'dead-node', message: `node ${n.id} was not killed, yet is not alive`, ops: [] })
  }
  const killed = nodes.filter((n) => n.killed).length
  return makeResult('alive', `${num(nodes.length)} nodes (${num(killed)} killed)`, anomalies, { nodes: nodes.length, killed })
}

/** The oracle's finding for one policy's run: bytes of a victim that stale DMA corrupted. */
export interface PolicyCorruption {
  policy: string
  corruptBytes: number
  /** DMA operations that wrote them, and the files whose blocks they landed in (the evidence). */
  corruptEvents?: number
  victims?: Array<{ file: string; bytes: number }>
}

/** The policies under which the oracle may find corruption. */
export const CORRUPTION_PERMITTED = ['unsafe-gup']

/** (g) Corruption appears only under the policies in `permitted`. */
export function checkOracle(runs: PolicyCorruption[], permitted: string[] = CORRUPTION_PERMITTED): CheckResult {
  const anomalies = new AnomalyList()
  const allow = new Set(permitted)
  let corrupt = 0
  for (const r of runs) {
    if (r.corruptBytes === 0) continue
    corrupt++
    if (!allow.has(r.policy)) {
      anomalies.add({
        kind: 'forbidden-corruption',
        message: `the oracle found ${num(r.corruptBytes)} corrupt bytes under policy ${r.policy}, which does not permit corruption (permitted: ${permitted.join(', ') || 'none'})` +
          (r.corruptEvents !== undefined ? `; ${num(r.corruptEvents)} RDMA writes landed in blocks their MR's file no longer owned` : '') +
          (r.victims?.length ? `; victims: ${r.victims.map((v) => `${v.file} (${num(v.bytes)} bytes)`).join(', ')}` : ''),
        ops: [],
      })
    }
  }
  return makeResult('oracle', `${num(runs.length)} policies, ${num(corrupt)} with corruption`, anomalies, { policies: runs.length, corrupt })
}
