/**
 * Every configuration default, in one place (the piscina model). The schema
 * (cluster.schema.json) says what is allowed; this file says what an omitted
 * value means. Numeric defaults come from src/params.ts.
 */
import { isAbsolute, resolve } from 'node:path'
import { Params, type DeviceModel } from '../params.ts'

export const POLICIES = ['upstream', 'unsafe-gup', 'deny', 'truncate-extend', 'layout-lease', 'exclusive-lease', 'odp'] as const
export type Policy = (typeof POLICIES)[number]
/** The policies whose file MRs need the registering node to hold the file's layout lease. */
export const LEASE_POLICIES: readonly Policy[] = ['layout-lease', 'exclusive-lease']
/** Writeback of pinned page-cache pages: Linux ('upstream'), then seed 001's two proposals. */
export type WritebackMode = 'upstream' | 'keep-dirty' | 'bounce'
/**
 * truncate-extend's two readings of seed 000 option 4: 'retain' (the pinned
 * blocks stay the file's, invisible past the new EOF, until unpinned) or
 * 'extend' ("as if the truncate is immediate followed by a write extending
 * the file again": the file grows back over the pinned pages, whose RDMA data
 * stays visible).
 */
export type TruncateExtendMode = 'retain' | 'extend'
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'
export type Role = 'client' | 'server'

export interface FabricConfig {
  heartbeatIntervalMs: number
  heartbeatTimeoutMs: number
}

export interface ServerConfig {
  deviceBytes: number
  pageSize: number
  policy: Policy
  leaseBreakTimeMs: number
  /** layout-lease: also shut down a holder whose lease was revoked ("if unhandled, process gets killed", seed 001). */
  leaseRevokeKill: boolean
  dirtyExpireMs: number
  writebackMode: WritebackMode
  /** Policy truncate-extend: which reading of seed 000 option 4. */
  truncateExtend: TruncateExtendMode
  workers: number
  /** With workers: batches moving at most this many bytes on an idle QP run on the main thread. */
  inlineBatchBytes: number
  /** With workers: 'adaptive' runs batches in place while the main thread has headroom; 'always' offloads them. */
  offload: 'adaptive' | 'always'
}

interface NodeConfigBase {
  id: string
  transport: 'tcp' | 'ipc'
  /** tcp: the local address bound (an IP address or a wildcard: 0.0.0.0, ::, *). */
  bind: string
  /** tcp: the address peers and tools dial (an IP address or a hostname). */
  advertise: string
  /** tcp: port, 0 = pick a free one. */
  port: number
  /** ipc: socket path (relative = under the run directory). */
  path?: string
  /** A program this node runs as a host of the cluster (absolute path once defaults are filled). */
  program?: string
  /** The program's arguments (host.args); present when `program` is. */
  args?: string[]
}

export interface ClientNodeConfig extends NodeConfigBase {
  role: 'client'
}

export interface ServerNodeConfig extends NodeConfigBase {
  role: 'server'
  server: ServerConfig
}

export type NodeConfig = ClientNodeConfig | ServerNodeConfig

/** Prometheus metrics endpoint (config `metrics`, `--metrics-port`); see src/metrics/. */
export interface MetricsConfig {
  /** IP address the endpoint binds (loopback by default). */
  host: string
  /** TCP port, 0 = pick a free one. */
  port: number
}

/** `security`: CURVE keys (src/config/security.ts loads them). */
export interface SecurityConfig {
  curve?: {
    /** Absolute directory of the key files once defaults are filled. */
    keys: string
    /** Admin key names (default ["admin"]). */
    admins: string[]
  }
}

/** A validated configuration with every default filled in. */
export interface ClusterConfig {
  name: string
  logLevel: LogLevel
  /** RC transport timer multiplier. */
  timeScale: number
  /** Device model of every node's RDMA device: 'ibta' (hardware) or 'rxe' (soft-RoCE quirks). */
  deviceModel: DeviceModel
  fabric: FabricConfig
  /** The metrics endpoint; absent when the configuration has no `metrics` block. */
  metrics?: MetricsConfig
  /** Present only when the configuration has a `security` block. */
  security?: SecurityConfig
  nodes: NodeConfig[]
}

export const DEFAULTS = {
  name: 'rdma-emu',
  logLevel: 'info' as LogLevel,
  timeScale: 1,
  deviceModel: 'ibta' as DeviceModel,
  fabric: {
    heartbeatIntervalMs: Params.heartbeatIntervalMs,
    heartbeatTimeoutMs: Params.heartbeatTimeoutMs,
  } satisfies FabricConfig,
  metrics: {
    host: '127.0.0.1',
    port: Params.metricsPort,
  } satisfies MetricsConfig,
  node: {
    transport: 'tcp' as const,
    /** bind and advertise both, when neither nor `host` is given. */
    host: '127.0.0.1',
    port: 0,
  },
  server: {
    deviceBytes: Params.defaultDeviceBytes,
    pageSize: Params.defaultPageSize,
    policy: 'upstream' as Policy,
    leaseBreakTimeMs: Params.defaultLeaseBreakTimeMs,
    leaseRevokeKill: false,
    dirtyExpireMs: Params.defaultDirtyExpireMs,
    writebackMode: 'upstream' as WritebackMode,
    truncateExtend: 'retain' as TruncateExtendMode,
    workers: 2,
    inlineBatchBytes: 16384,
    offload: 'adaptive' as 'adaptive' | 'always',
  } satisfies ServerConfig,
} as const

/* eslint-disable @typescript-eslint/no-explicit-any */
/**
 * Fill defaults into a schema-valid raw configuration. A relative `program`
 * path resolves against `baseDir` (the configuration file's directory when
 * the configuration came from a file; default the current directory).
 */
export function applyDefaults(raw: any, opts: { baseDir?: string } = {}): ClusterConfig {
  const baseDir = opts.baseDir ?? process.cwd()
  return {
    name: raw.name ?? DEFAULTS.name,
    logLevel: raw.logLevel ?? DEFAULTS.logLevel,
    timeScale: raw.timeScale ?? DEFAULTS.timeScale,
    deviceModel: raw.deviceModel ?? DEFAULTS.deviceModel,
    fabric: { ...DEFAULTS.fabric, ...raw.fabric },
    ...(raw.metrics !== undefined ? { metrics: { ...DEFAULTS.metrics, ...raw.metrics } } : {}),
    ...(raw.security !== undefined ? { security: securityDefaults(raw.security, baseDir) } : {}),
    nodes: (raw.nodes as any[]).map((n): NodeConfig => {
      const transport = n.transport ?? DEFAULTS.node.transport
      const base: NodeConfigBase = {
        id: n.id,
        transport,
        // `host` is both (compatibility); bind and advertise each override it.
        bind: n.bind ?? n.host ?? DEFAULTS.node.host,
        advertise: n.advertise ?? n.host ?? n.bind ?? DEFAULTS.node.host,
        port: n.port ?? DEFAULTS.node.port,
      }
      if (transport === 'ipc') base.path = n.path ?? `${n.id}.sock`
      else if (n.path !== undefined) base.path = n.path
      if (typeof n.program === 'string') {
        base.program = programPath(n.program, baseDir)
        base.args = [...(n.args ?? [])]
      }
      return n.role === 'server'
        ? { ...base, role: 'server', server: { ...DEFAULTS.server, ...n.server } }
        : { ...base, role: 'client' }
    }),
  }
}

/** The `security` block with its key directory absolute and the default admin name. */
function securityDefaults(raw: any, baseDir: string): SecurityConfig {
  if (!raw.curve) return {}
  return { curve: { keys: programPath(raw.curve.keys, baseDir), admins: [...(raw.curve.admins ?? ['admin'])] } }
}

/** Where a node's `program` is: absolute, or resolved against `baseDir`. */
export function programPath(program: string, baseDir: string): string {
  return isAbsolute(program) ? program : resolve(baseDir, program)
}

/** A filled configuration as schema-valid JSON (ipc nodes carry no tcp fields), e.g. for the run directory. */
export function serializeConfig(config: ClusterConfig): string {
  const nodes = config.nodes.map((n) => {
    if (n.transport !== 'ipc') return n
    const { bind: _bind, advertise: _advertise, port: _port, ...rest } = n
    return rest
  })
  return JSON.stringify({ ...config, nodes }, null, 2) + '\n'
}
