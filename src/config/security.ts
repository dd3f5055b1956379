/**
 * The configuration's `security` block: which key files CURVE uses, checked
 * at validation, loaded when a node, the launcher or a tool opens its fabric.
 *
 *   "security": { "curve": { "keys": "keys", "admins": ["admin"] } }
 *
 * Node X's key pair is <keys>/X.key and <keys>/X.key_secret; the launcher
 * and attached tools use the first admin whose <keys>/NAME.key_secret is
 * present. The allow-list is every node's and every admin's public key.
 * Also: the warning printed when a fabric without keys leaves loopback.
 */
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { PUBLIC_SUFFIX, readKeyFile, SECRET_SUFFIX } from '../../fabric/curve-keys.ts'
import type { CurveIdentity } from '../../fabric/control-auth.ts'
import { EmuError, ErrorCodes } from '../errors.ts'
import { programPath, type ClusterConfig } from './defaults.ts'

/** Problems of a raw configuration's `security` block (schema-valid shapes assumed where checked). */
export function securityProblems(raw: Record<string, unknown>, baseDir: string): string[] {
  const curve = (raw.security as { curve?: { keys?: unknown; admins?: unknown } } | undefined)?.curve
  if (!curve || typeof curve.keys !== 'string' || curve.keys === '') return []
  const lines: string[] = []
  const dir = programPath(curve.keys, baseDir)
  if (!existsSync(dir)) return [`security.curve.keys: directory not found: ${dir} (make keys with \`rdma-emu keys --out ${curve.keys}\`)`]
  const nodes = Array.isArray(raw.nodes) ? raw.nodes.map((n) => (n as { id?: unknown } | null)?.id).filter((id): id is string => typeof id === 'string') : []
  const admins = Array.isArray(curve.admins) ? curve.admins.filter((a): a is string => typeof a === 'string') : ['admin']
  admins.forEach((a, i) => {
    if (nodes.includes(a)) lines.push(`security.curve.admins[${i}]: ${JSON.stringify(a)} is a node id; an admin key needs a name of its own`)
  })
  for (const name of [...nodes, ...admins]) {
    const file = join(dir, name + PUBLIC_SUFFIX)
    try {
      readKeyFile(file, 'key')
    } catch (err) {
      lines.push(`security.curve.keys: public key of ${JSON.stringify(name)}: ${(err as EmuError).message.replace(/^key: /, '')}`)
    }
  }
  return lines
}

/**
 * The CURVE identity of `who` (a node id, or 'admin' for the launcher and
 * tools), or undefined when the configuration has no keys. Throws
 * EmuError(CONFIG_INVALID) naming the file when a key file is missing or bad.
 */
export function curveIdentity(config: ClusterConfig, who: { node: string } | 'admin'): CurveIdentity | undefined {
  const curve = config.security?.curve
  if (!curve) return undefined
  const file = (name: string, suffix: string) => join(curve.keys, name + suffix)
  const keys = new Map<string, string>()
  for (const name of [...config.nodes.map((n) => n.id), ...curve.admins]) keys.set(name, readKeyFile(file(name, PUBLIC_SUFFIX), 'security.curve.keys'))
  let name: string
  if (who === 'admin') {
    const found = curve.admins.find((a) => existsSync(file(a, SECRET_SUFFIX)))
    if (!found) {
      throw new EmuError(ErrorCodes.CONFIG_INVALID, `security.curve.admins: no admin secret key here (looked for ${curve.admins.map((a) => file(a, SECRET_SUFFIX)).join(', ')}); the launcher and tools need one`)
    }
    name = found
  } else {
    name = who.node
  }
  const secretKey = readKeyFile(file(name, SECRET_SUFFIX), 'security.curve.keys')
  return { name, publicKey: keys.get(name)!, secretKey, keys, admins: new Set(curve.admins) }
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/i

/** The warning for a configuration without keys whose fabric leaves loopback, or undefined. */
export function plainFabricWarning(config: ClusterConfig): string | undefined {
  if (config.security?.curve) return undefined
  const open = config.nodes.filter((n) => n.transport === 'tcp' && !(LOOPBACK.test(n.bind) && LOOPBACK.test(n.advertise)))
  if (open.length === 0) return undefined
  const list = open.map((n) => `${n.id} (${n.bind === n.advertise ? n.bind : `bind ${n.bind}, advertised ${n.advertise}`})`).join(', ')
  return `warning: no CURVE keys configured (security.curve) and ${list} listen beyond loopback: the fabric is unencrypted and anyone who reaches these ports can send control commands under any node's id`
}
