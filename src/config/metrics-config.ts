/**
 * The metrics endpoint's settings: the configuration's `metrics` block and
 * the command-line options over it (`--metrics-port`, `--metrics-host`,
 * `--no-metrics`). The endpoint binds, so its host must be an IP address: a
 * hostname would be resolved to whatever address it names today.
 */
import { isIP } from 'node:net'
import { EmuError, ErrorCodes } from '../errors.ts'
import { DEFAULTS, type ClusterConfig, type MetricsConfig } from './defaults.ts'

/** The rules the schema cannot say about a raw configuration's `metrics` (one line each). */
export function metricsProblems(raw: Record<string, unknown>): string[] {
  const m = raw.metrics
  if (typeof m !== 'object' || m === null || Array.isArray(m)) return []
  const { host, port } = m as Record<string, unknown>
  const lines: string[] = []
  if (typeof host === 'string' && host !== '' && isIP(host) === 0) {
    lines.push(`metrics.host: expected an IP address to bind (such as "127.0.0.1"), got ${JSON.stringify(host)}`)
  }
  // A fixed node port on the same address would collide with the endpoint.
  if (typeof port === 'number' && port > 0 && Array.isArray(raw.nodes)) {
    const at = raw.nodes.findIndex((n: unknown) => {
      const node = n as Record<string, unknown> | null
      return node !== null && typeof node === 'object' && node.port === port && (node.host ?? DEFAULTS.node.host) === (host ?? DEFAULTS.metrics.host)
    })
    if (at >= 0) lines.push(`metrics.port: ${port} is also nodes[${at}].port on the same address`)
  }
  return lines
}

export interface MetricsOptions {
  /** --metrics-port: serve on this port (0: any free one), with or without a `metrics` block. */
  metricsPort?: number
  /** --metrics-host: the address to serve on. */
  metricsHost?: string
  /** --no-metrics: false. */
  metrics?: boolean
}

/**
 * Where to serve metrics, or undefined for no endpoint: the options over the
 * configuration. A --metrics-host that is not an IP address is
 * EmuError(BAD_ARGUMENT).
 */
export function metricsEndpoint(config: ClusterConfig, opts: MetricsOptions): MetricsConfig | undefined {
  if (opts.metricsHost !== undefined && isIP(opts.metricsHost) === 0) {
    throw new EmuError(ErrorCodes.BAD_ARGUMENT, `--metrics-host: expected an IP address to bind (such as 127.0.0.1), got ${JSON.stringify(opts.metricsHost)}`)
  }
  if (opts.metrics === false) {
    if (opts.metricsPort !== undefined || opts.metricsHost !== undefined) throw new EmuError(ErrorCodes.BAD_ARGUMENT, '--no-metrics: not with --metrics-port or --metrics-host')
    return undefined
  }
  if (!config.metrics && opts.metricsPort === undefined && opts.metricsHost === undefined) return undefined
  const base = config.metrics ?? DEFAULTS.metrics
  return { host: opts.metricsHost ?? base.host, port: opts.metricsPort ?? base.port }
}
