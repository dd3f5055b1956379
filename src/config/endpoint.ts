/**
 * The ZeroMQ endpoints of a node, from its configuration: the one it binds
 * (`bind`: an IP address or a wildcard) and the one peers and tools dial
 * (`advertise`: an IP address or a hostname, with the port really bound).
 */
import { isAbsolute, join } from 'node:path'
import type { NodeConfig } from './defaults.ts'

/** Bind addresses meaning "every interface". */
export const WILDCARDS: readonly string[] = ['0.0.0.0', '::', '*']

/** tcp://HOST:PORT, an IPv6 address in brackets. */
export function tcpEndpoint(host: string, port: number): string {
  return `tcp://${host.includes(':') ? `[${host}]` : host}:${port}`
}

/** The port of a tcp://HOST:PORT endpoint (undefined for ipc or a malformed one). */
export function endpointPort(endpoint: string): number | undefined {
  const m = /^tcp:\/\/.*:(\d+)$/.exec(endpoint)
  return m ? Number(m[1]) : undefined
}

/**
 * tcp://BIND:PORT (port 0: the OS picks a free port; the real one is read
 * back after bind), or ipc://PATH with relative paths under the run directory.
 */
export function bindEndpoint(node: NodeConfig, runDir: string): string {
  if (node.transport === 'ipc') {
    const path = node.path ?? `${node.id}.sock`
    return `ipc://${isAbsolute(path) ? path : join(runDir, path)}`
  }
  return node.bind === '*' ? `tcp://*:${node.port}` : tcpEndpoint(node.bind, node.port)
}

/**
 * The endpoint peers dial: tcp://ADVERTISE:PORT, with the port of `bound`
 * (the real bound endpoint) when the configuration says 0; undefined when
 * that port is not known yet. ipc: the bound path.
 */
export function advertisedEndpoint(node: NodeConfig, runDir: string, bound?: string): string | undefined {
  if (node.transport === 'ipc') return bindEndpoint(node, runDir)
  const port = node.port !== 0 ? node.port : bound !== undefined ? endpointPort(bound) : undefined
  return port === undefined ? undefined : tcpEndpoint(node.advertise, port)
}

/** The endpoint peers can reach before the node reports its real one (fixed ports and ipc only). */
export function knownEndpoint(node: NodeConfig, runDir: string): string | undefined {
  return advertisedEndpoint(node, runDir)
}
