/**
 * A node started alone (`rdma-emu node --id X`, no launcher): one node of a
 * cluster started node by node, maybe across machines. It
 * 1. records itself in the run directory (src/launcher/run-file.ts: its
 *    entry, cluster.json, and the configuration in use), so `stats`,
 *    `bench --attach`, `run --attach` and programs can attach;
 * 2. dials every peer of the configuration (full mesh) at its advertised
 *    endpoint: a fixed port from the configuration, or for a port-0 peer the
 *    entry it wrote in a run directory shared on this machine;
 * 3. is ready once every peer answered a ping, and records that; a peer
 *    that does not answer before the timeout fails the start with
 *    EmuError(PEERS_UNREACHABLE) naming each missing peer and why.
 */
import { renameSync, writeFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { join, resolve } from 'node:path'
import { serializeConfig } from '../config/defaults.ts'
import { knownEndpoint } from '../config/endpoint.ts'
import { EmuError, ErrorCodes } from '../errors.ts'
import { Msg } from '../launcher/protocol.ts'
import { NODE_ENTRIES_DIR, readNodeEntry, writeNodeEntry, type RunFileNode } from '../launcher/run-file.ts'
import type { NodeContext } from './node-context.ts'

/** How long a node started alone waits for its peers by default (ms): people start the others by hand. */
export const ALONE_READY_TIMEOUT_MS = 60000
/** Between two looks for a peer whose endpoint is not known yet (ms). */
const LOOK_AGAIN_MS = 200
/** The longest single ping of the wait (ms). */
const PING_MS = 1000

export interface AloneOptions {
  /** The advertised endpoint of this node (real port). */
  endpoint: string
  timeoutMs: number
  /** The configuration file the node was started with (not overwritten by the run directory's copy). */
  configFile?: string
  /** Stop waiting (SIGINT, SIGTERM): rejects with EmuError(NODE_FAILED, details { interrupted: true }). */
  signal?: AbortSignal
}

/** Join the peers of a node started alone; resolves once every one answers (see the file comment). */
export async function joinAlone(ctx: NodeContext, o: AloneOptions): Promise<void> {
  const { id, cluster: config, runDir, transport, control, log } = ctx
  const entry: RunFileNode = { id, role: ctx.role, endpoint: o.endpoint, pid: process.pid, hostname: hostname(), bound: transport.endpoint, ready: false }
  writeRunConfig(runDir, serializeConfig(config), o.configFile)
  writeNodeEntry(runDir, config, entry)

  const peers = config.nodes.filter((n) => n.id !== id)
  const dialled = new Map<string, string>()
  const answered = new Set<string>()
  /** Dial `peer` once its endpoint is known: fixed in the configuration, or in a live entry of this machine. */
  const dial = (peer: (typeof peers)[number]): boolean => {
    if (dialled.has(peer.id)) return true
    const e = knownEndpoint(peer, runDir) ?? liveEntry(runDir, peer.id)?.endpoint
    if (e === undefined) return false
    transport.connect(peer.id, e)
    dialled.set(peer.id, e)
    return true
  }
  log.info({ peers: peers.map((p) => p.id), timeoutMs: o.timeoutMs }, 'waiting for peers')
  const deadline = Date.now() + o.timeoutMs
  await Promise.all(peers.map(async (peer) => {
    for (let left = deadline - Date.now(); left > 0 && !o.signal?.aborted; left = deadline - Date.now()) {
      if (!dial(peer)) {
        await sleep(Math.min(LOOK_AGAIN_MS, left))
        continue
      }
      try {
        await control.request(peer.id, Msg.PING, null, Math.min(PING_MS, left))
        answered.add(peer.id)
        log.info({ peer: peer.id, endpoint: dialled.get(peer.id) }, 'peer reachable')
        return
      } catch (err) {
        // Not up yet (a timeout), or not reachable yet: try again until the deadline.
        if ((err as EmuError).code !== ErrorCodes.TIMEOUT) await sleep(Math.min(LOOK_AGAIN_MS, Math.max(0, deadline - Date.now())))
      }
    }
  }))
  if (o.signal?.aborted) throw new EmuError(ErrorCodes.NODE_FAILED, `node ${id}: stopped while waiting for its peers`, { interrupted: true })
  const missing = peers.filter((p) => !answered.has(p.id)).map((p) => {
    const at = dialled.get(p.id)
    return at !== undefined
      ? `${p.id} at ${at} (no answer)`
      : `${p.id} (port 0 and no entry in ${join(runDir, NODE_ENTRIES_DIR)}: give it a fixed port, or start it on this machine with the same --run-dir)`
  })
  if (missing.length > 0) {
    throw new EmuError(ErrorCodes.PEERS_UNREACHABLE, `node ${id}: not ready: ${missing.length} peer${missing.length === 1 ? '' : 's'} unreachable within ${o.timeoutMs} ms: ${missing.join('; ')}`, {
      missing: peers.filter((p) => !answered.has(p.id)).map((p) => p.id),
    })
  }
  writeNodeEntry(runDir, config, { ...entry, ready: true })
}

/** A peer's entry, when it was written on this machine by a process that still runs. */
function liveEntry(runDir: string, id: string): RunFileNode | undefined {
  const e = readNodeEntry(runDir, id)
  if (!e || e.hostname !== hostname() || e.pid === undefined) return undefined
  try {
    process.kill(e.pid, 0)
    return e
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM' ? e : undefined
  }
}

/** The run directory's copy of the configuration (attaching tools read its timers), unless it is the file given. */
function writeRunConfig(runDir: string, text: string, given: string | undefined): void {
  const file = resolve(runDir, 'cluster.config.json')
  if (given !== undefined && resolve(given) === file) return
  const tmp = `${file}.${process.pid}.tmp`
  writeFileSync(tmp, text)
  renameSync(tmp, file)
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}
