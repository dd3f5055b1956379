/**
 * Join a cluster that `rdma-emu up` keeps running (`bench --attach`), instead
 * of launching one. The launcher wrote every node's real endpoint into
 * `<runDir>/cluster.json` (CLUSTER_FILE); this process opens its own fabric
 * endpoint under a fresh id, connects to every node (the nodes answer through
 * their ROUTER, as they answer `rdma-emu stats`), checks that each one answers
 * within a timeout, and becomes a client host on that control plane: an RDMA
 * device, connection manager and remote-verbs service (attachRdma), exactly
 * what the test harness (test/helpers/rdma-cluster.ts) makes of the test
 * process on the launcher's control plane.
 *
 * Leaving (close()) stops only this process's endpoint: the cluster keeps
 * running. Whatever this process still owned on a node (MRs, QPs, CM
 * listeners) is released by that node once our heartbeats stop.
 */
import { randomBytes } from 'node:crypto'
import { existsSync, readFileSync, statSync } from 'node:fs'
import { hostname } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { ZmqTransport } from '../../fabric/zmq-transport.ts'
import { applyDefaults, type ClusterConfig, type Role } from '../config/defaults.ts'
import { loadConfig } from '../config/load-config.ts'
import { EmuError, ErrorCodes } from '../errors.ts'
import { ControlPlane } from '../../fabric/control-plane.ts'
import { attachRdma, type RdmaService } from '../host/rdma-service.ts'
import { CLUSTER_FILE } from './run-file.ts'
import { ControlAuth, transportCurve } from '../../fabric/control-auth.ts'
import { curveIdentity } from '../config/security.ts'
import { Msg } from './protocol.ts'

/** How long every node of the file has to answer a ping (ms). */
export const ATTACH_TIMEOUT_MS = 5000
/** How often the node processes are checked for life during a run (ms). */
const PID_CHECK_MS = 500

/** One node as `cluster.json` lists it. */
export interface ClusterFileNode {
  id: string
  role: Role
  pid?: number
  endpoint: string
}

export interface ClusterFile {
  /** Absolute path of the cluster.json read. */
  file: string
  /** The run directory of the `up` that wrote it (the file's directory). */
  runDir: string
  nodes: ClusterFileNode[]
}

export interface AttachedCluster extends ClusterFile {
  /** The cluster's configuration (from the run directory), or the defaults when it is not there. */
  config: ClusterConfig
  /** This process's fabric id (unique per attach). */
  id: string
  control: ControlPlane
  transport: ZmqTransport
  /** This process as a client host: its RDMA device, CM and remote-verbs service. */
  local: RdmaService
  /** Rejects (EmuError NODE_FAILED) when a node process of the file exits while attached. */
  failed: Promise<never>
  /** Leave the cluster (it keeps running). Idempotent. */
  close(): Promise<void>
}

function bad(option: string, message: string): never {
  throw new EmuError(ErrorCodes.BAD_ARGUMENT, `${option}: ${message}`)
}

/**
 * Read and check the cluster.json named by `pathOrDir`: the file itself or
 * the run directory holding it. Throws EmuError(BAD_ARGUMENT) naming `option`
 * and the path for a missing or malformed file.
 */
export function readClusterFile(pathOrDir: string, option = '--attach'): ClusterFile {
  if (pathOrDir.trim() === '') bad(option, 'expected a run directory of `rdma-emu up` or `rdma-emu node`, or its cluster.json')
  const given = resolve(pathOrDir)
  if (!existsSync(given)) bad(option, `${pathOrDir}: no such file or directory (expected a run directory of \`rdma-emu up\` or \`rdma-emu node\`, or its ${CLUSTER_FILE})`)
  const file = statSync(given).isDirectory() ? join(given, CLUSTER_FILE) : given
  if (!existsSync(file)) bad(option, `${pathOrDir}: no ${CLUSTER_FILE} in this directory (is it the run directory of a running \`rdma-emu up\` or \`rdma-emu node\`?)`)
  let raw: unknown
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'))
  } catch (err) {
    bad(option, `${file}: not a ${CLUSTER_FILE} (${(err as Error).message})`)
  }
  const nodes = (raw as { nodes?: unknown } | null)?.nodes
  if (!Array.isArray(nodes) || nodes.length === 0) bad(option, `${file}: expected {"nodes": [...]} with at least one node`)
  const out: ClusterFileNode[] = nodes.map((n: Record<string, unknown> | null, i: number) => {
    const at = `${file}: nodes[${i}]`
    if (typeof n?.id !== 'string' || n.id === '') bad(option, `${at}.id: expected a node id`)
    if (n.role !== 'client' && n.role !== 'server') bad(option, `${at}.role: expected client or server, got ${JSON.stringify(n.role)}`)
    if (typeof n.endpoint !== 'string' || !/^(tcp|ipc):\/\/./.test(n.endpoint)) bad(option, `${at}.endpoint: expected tcp://HOST:PORT or ipc://PATH, got ${JSON.stringify(n.endpoint)}`)
    if (n.pid !== undefined && !(Number.isSafeInteger(n.pid) && (n.pid as number) > 0)) bad(option, `${at}.pid: expected a process id, got ${JSON.stringify(n.pid)}`)
    // A pid is checked only on the machine it belongs to (nodes started alone on several machines).
    const local = n.pid !== undefined && (typeof n.hostname !== 'string' || n.hostname === hostname())
    return { id: n.id, role: n.role, endpoint: n.endpoint, ...(local ? { pid: n.pid as number } : {}) }
  })
  const ids = new Set<string>()
  for (const n of out) {
    if (ids.has(n.id)) bad(option, `${file}: node id "${n.id}" appears twice`)
    ids.add(n.id)
  }
  return { file, runDir: dirname(file), nodes: out }
}

/**
 * The configuration recorded beside cluster.json (by `up`, or by the nodes
 * started alone; defaults filled in): its fabric timers and time scale. The
 * defaults over the file's nodes when it is not there.
 */
export function recordedConfig(cluster: ClusterFile): ClusterConfig {
  const configFile = join(cluster.runDir, 'cluster.config.json')
  return existsSync(configFile)
    ? loadConfig(configFile)
    : applyDefaults({ name: 'attached', nodes: cluster.nodes.map(({ id, role }) => ({ id, role })) })
}

/** False only when `pid` certainly is not a running process. */
function running(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * Join the cluster of `cluster` (see readClusterFile). Throws
 * EmuError(NODE_FAILED) naming the node and the file when a node's process
 * is gone or it does not answer within `timeoutMs`.
 */
export async function attachCluster(cluster: ClusterFile, opts: { name?: string; timeoutMs?: number; option?: string } = {}): Promise<AttachedCluster> {
  const option = opts.option ?? '--attach'
  const timeoutMs = opts.timeoutMs ?? ATTACH_TIMEOUT_MS
  const config = recordedConfig(cluster)
  for (const n of cluster.nodes) {
    if (n.pid !== undefined && !running(n.pid)) {
      throw new EmuError(ErrorCodes.NODE_FAILED, `${option}: node ${n.id} (pid ${n.pid}) listed in ${cluster.file} is not running (has \`rdma-emu up\` stopped?)`)
    }
  }

  const id = `@${opts.name ?? 'attach'}-${process.pid}-${randomBytes(3).toString('hex')}`
  // With CURVE an attached tool holds an admin key (the cluster admits no other).
  const auth = new ControlAuth({ self: id, curve: curveIdentity(config, 'admin'), enforce: false })
  const transport = new ZmqTransport(id, { bind: 'tcp://127.0.0.1:0', ...config.fabric, curve: transportCurve(auth.curve, auth) })
  await transport.start()
  const control = new ControlPlane(transport, { auth })
  const local = attachRdma(control, { timeScale: config.timeScale, deviceModel: config.deviceModel })
  let pidTimer: NodeJS.Timeout | undefined
  let closing: Promise<void> | undefined
  const close = (): Promise<void> => {
    closing ??= (async () => {
      clearInterval(pidTimer)
      local.close()
      control.cancelAll('left the cluster')
      await transport.close()
    })()
    return closing
  }

  try {
    for (const n of cluster.nodes) transport.connect(n.id, n.endpoint)
    // Every node answers a ping (connections come up asynchronously: retry until the deadline).
    const deadline = Date.now() + timeoutMs
    await Promise.all(cluster.nodes.map(async (n) => {
      for (;;) {
        const left = deadline - Date.now()
        if (left <= 0) {
          throw new EmuError(ErrorCodes.NODE_FAILED, `${option}: node ${n.id} at ${n.endpoint} (listed in ${cluster.file}) did not answer within ${timeoutMs} ms (is that \`rdma-emu up\` still running?)`)
        }
        try {
          await control.request(n.id, Msg.PING, null, Math.min(1000, left))
          return
        } catch (err) {
          if ((err as EmuError).code !== ErrorCodes.TIMEOUT) throw err
        }
      }
    }))
  } catch (err) {
    await close()
    throw err
  }

  // A node process that exits while we are attached fails the run (as the launcher's 'failed' event does).
  const failed = new Promise<never>((_, reject) => {
    pidTimer = setInterval(() => {
      const gone = cluster.nodes.find((n) => n.pid !== undefined && !running(n.pid))
      if (gone) {
        clearInterval(pidTimer)
        reject(new EmuError(ErrorCodes.NODE_FAILED, `node ${gone.id} (pid ${gone.pid}) of the attached cluster exited`))
      }
    }, PID_CHECK_MS)
    pidTimer.unref()
  })
  failed.catch(() => {})
  return { ...cluster, config, id, control, transport, local, failed, close }
}
