/** The ZeroMQ endpoint a node binds, from its configuration. */
import { isAbsolute, join } from 'node:path'
import type { NodeConfig } from './defaults.ts'

/**
 * tcp://HOST:PORT (port 0: the OS picks a free port; the real one is read back
 * after bind), or ipc://PATH with relative paths under the run directory.
 */
export function bindEndpoint(node: NodeConfig, runDir: string): string {
  if (node.transport === 'ipc') {
    const path = node.path ?? `${node.id}.sock`
    return `ipc://${isAbsolute(path) ? path : join(runDir, path)}`
  }
  const host = node.host.includes(':') ? `[${node.host}]` : node.host
  return `tcp://${host}:${node.port}`
}

/** The endpoint peers can reach before the node reports its real one (fixed ports and ipc only). */
export function knownEndpoint(node: NodeConfig, runDir: string): string | undefined {
  if (node.transport === 'tcp' && node.port === 0) return undefined
  return bindEndpoint(node, runDir)
}
