/**
 * The run file every tool attaches by: <runDir>/cluster.json, one entry per
 * node with its role, the endpoint peers and tools dial, and (for nodes of
 * this machine) its pid and the host name it runs on.
 *
 * `rdma-emu up` writes it once its nodes are ready (launch-cluster.ts). A
 * node started alone (`rdma-emu node`, no launcher) writes its own entry,
 * <runDir>/nodes/<id>.json, and then cluster.json again from the
 * configuration and every entry there:
 * - nodes on one machine sharing a run directory each add their entry, so
 *   cluster.json lists them all with their pids (and a peer with port 0 is
 *   found through its entry);
 * - a node on another machine, with a run directory of its own, appears with
 *   the endpoint the configuration gives it (advertise:port; fixed ports
 *   only), without a pid: a pid means something on its own machine only.
 *
 * Writers never leave a half-written file (write, then rename). Several nodes
 * may rewrite cluster.json at once: each rewrites it until the entries it
 * read before writing are still all there is afterwards, so the last writer
 * has seen every entry.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { join } from 'node:path'
import type { ClusterConfig, Role } from '../config/defaults.ts'
import { knownEndpoint } from '../config/endpoint.ts'

/** File in the run directory naming every node's endpoint (and pid, on this machine). */
export const CLUSTER_FILE = 'cluster.json'
/** Directory in the run directory with one entry per node started alone. */
export const NODE_ENTRIES_DIR = 'nodes'
/** Rewrites of cluster.json by one writer before it stops (others write too). */
const MERGE_ROUNDS = 10

/** One node as cluster.json lists it. */
export interface RunFileNode {
  id: string
  role: Role
  /** The endpoint to dial (advertised address, real port). */
  endpoint: string
  /** Its process id on `hostname`. */
  pid?: number
  /** The machine the pid belongs to (os.hostname()). */
  hostname?: string
  /** A node started alone: the endpoint it bound (may be a wildcard). */
  bound?: string
  /** A node started alone: false until every peer answered. */
  ready?: boolean
}

/** Write `data` as JSON at `file` in one step (a reader sees the old file or the new one). */
export function writeJsonAtomic(file: string, data: unknown): void {
  const tmp = `${file}.${process.pid}.tmp`
  writeFileSync(tmp, JSON.stringify(data, null, 2) + '\n')
  renameSync(tmp, file)
}

/** cluster.json of a launched cluster (`up`): every node with its pid on this machine. */
export function writeClusterFile(runDir: string, nodes: ReadonlyArray<Pick<RunFileNode, 'id' | 'role' | 'pid' | 'endpoint'>>): void {
  const host = hostname()
  writeJsonAtomic(join(runDir, CLUSTER_FILE), { nodes: nodes.map(({ id, role, pid, endpoint }) => ({ id, role, pid, endpoint, hostname: host })) })
}

/** The entry a node started alone wrote for itself, if it is there and whole. */
export function readNodeEntry(runDir: string, id: string): RunFileNode | undefined {
  try {
    const e = JSON.parse(readFileSync(join(runDir, NODE_ENTRIES_DIR, `${id}.json`), 'utf8')) as RunFileNode
    return e && e.id === id && typeof e.endpoint === 'string' ? e : undefined
  } catch {
    return undefined
  }
}

/** Every entry in the run directory, by node id. */
function readEntries(runDir: string): Map<string, RunFileNode> {
  const out = new Map<string, RunFileNode>()
  let names: string[]
  try {
    names = readdirSync(join(runDir, NODE_ENTRIES_DIR)).filter((f) => f.endsWith('.json'))
  } catch {
    return out
  }
  for (const f of names) {
    const e = readNodeEntry(runDir, f.slice(0, -5))
    if (e) out.set(e.id, e)
  }
  return out
}

/** cluster.json's nodes: each configured node from its entry, else at its configured endpoint (when fixed). */
function mergedNodes(runDir: string, config: ClusterConfig, entries: ReadonlyMap<string, RunFileNode>): RunFileNode[] {
  const out: RunFileNode[] = []
  for (const n of config.nodes) {
    const e = entries.get(n.id)
    if (e) out.push(e)
    else {
      const endpoint = knownEndpoint(n, runDir)
      if (endpoint) out.push({ id: n.id, role: n.role, endpoint })
    }
  }
  return out
}

/**
 * A node started alone records itself: its entry, then cluster.json merged
 * from the configuration and every entry of the run directory.
 */
export function writeNodeEntry(runDir: string, config: ClusterConfig, entry: RunFileNode): void {
  mkdirSync(join(runDir, NODE_ENTRIES_DIR), { recursive: true })
  writeJsonAtomic(join(runDir, NODE_ENTRIES_DIR, `${entry.id}.json`), { ...entry, hostname: entry.hostname ?? hostname() })
  const snapshot = (m: ReadonlyMap<string, RunFileNode>): string => JSON.stringify([...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
  for (let round = 0; round < MERGE_ROUNDS; round++) {
    const entries = readEntries(runDir)
    writeJsonAtomic(join(runDir, CLUSTER_FILE), { name: config.name, nodes: mergedNodes(runDir, config, entries) })
    // Nothing changed while we wrote: any later change is written by its own writer, after ours.
    if (snapshot(readEntries(runDir)) === snapshot(entries)) return
  }
}
