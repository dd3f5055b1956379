/**
 * Who sent a control request, and what they may do (design brief section 7:
 * a host touches only its own MRs; fault control, shutdown and policy
 * changes belong to the launcher or an admin key).
 *
 * Identity. Without CURVE a request's sender is its ZeroMQ routing id, as
 * the transport reports it: `@`-ids (the launcher `@launcher` and the tools
 * that attach, which a node id can never be) are the operator, and nothing is
 * authenticated: anyone who reaches a port can claim any id. With CURVE only
 * holders of an allowed key connect at all (ZAP, fabric/zap-handler.ts), and
 * every request carries the sender's key name and a token only that key's
 * holder and the receiver can compute (fabric/curve-keys.ts controlToken).
 * The caller is then the verified key: an admin key is the operator, a node's
 * key speaks for that node id only (a member that sets another node's routing
 * id is no one in particular).
 *
 * Rules: ADMIN_COMMANDS are refused to anyone but the operator (the node may
 * add exceptions, `alsoAllowed`); commands on an MR by STag are checked by
 * their handlers with mrAccess() against the MR's owner. Every refusal is
 * EmuError(NOT_AUTHORISED) and counted (`auth.counters`).
 */
import { timingSafeEqual } from 'node:crypto'
import { EmuError, ErrorCodes } from '../src/errors.ts'
import { controlToken, sharedSecret, z85Decode } from './curve-keys.ts'
import type { TransportCurve } from './zmq-transport.ts'

/** The sender of one control request, as far as it is known. */
export interface Caller {
  /** The routing id the request came from (the handler's `from`). */
  id: string
  /** With CURVE: the key name the request proved (absent: none proved). */
  key?: string
  /** The launcher, a tool of the operator, or an admin key. */
  admin: boolean
  /** The host identity MR ownership is compared with: the routing id without CURVE, the proved node key with it. */
  principal?: string
}

/** Commands only the operator may send: fault control, shutdown, policy and data-path changes, test hooks. */
export const ADMIN_COMMANDS: ReadonlySet<string> = new Set([
  'shutdown',
  'fabric.faults.add', 'fabric.faults.remove', 'fabric.faults.clear',
  'rdma.faults', 'fs.faults', 'rdma.dataPath', 'verbs.lease.mode',
  'test.freeBehindMr',
])

/** The key material of a CURVE identity (src/config/security.ts loads it from the key files). */
export interface CurveIdentity {
  /** Our key name (a node's id, or an admin key's name). */
  name: string
  publicKey: string
  secretKey: string
  /** Every allowed key by name: the nodes' and the admins'. */
  keys: ReadonlyMap<string, string>
  /** Names of the admin keys. */
  admins: ReadonlySet<string>
}

export interface AuthCounters {
  refused: number
  byType: Record<string, number>
  byCaller: Record<string, number>
}

export interface ControlAuthOptions {
  /** Our own id on the fabric. */
  self: string
  curve?: CurveIdentity
  /** Refuse what the rules refuse (nodes); false: only sign our own requests (launcher, tools). */
  enforce: boolean
  /** An exception to ADMIN_COMMANDS (a lease-revoking server's `shutdown` of the holder). */
  alsoAllowed?: (caller: Caller, type: string) => boolean
}

export class ControlAuth {
  readonly counters: AuthCounters = { refused: 0, byType: {}, byCaller: {} }
  readonly enforce: boolean
  readonly curve: CurveIdentity | undefined
  private readonly self: string
  private readonly alsoAllowed: ControlAuthOptions['alsoAllowed']
  private readonly allowedRaw: Set<string>
  /** Our token to each peer (key name = node id), and each sender's expected token to us. */
  private readonly outTokens = new Map<string, Uint8Array | null>()
  private readonly inTokens = new Map<string, Uint8Array | null>()

  constructor(opts: ControlAuthOptions) {
    this.self = opts.self
    this.curve = opts.curve
    this.enforce = opts.enforce
    this.alsoAllowed = opts.alsoAllowed
    this.allowedRaw = new Set([...(opts.curve?.keys.values() ?? [])].map((k) => z85Decode(k).toString('hex')))
  }

  /** ZAP: may the client with this raw public key connect? */
  allowsKey(raw: Uint8Array): boolean {
    return this.allowedRaw.has(Buffer.from(raw).toString('hex'))
  }

  /** The key name and token to put on a request to `peer` (CURVE only, peers with a known key). */
  tokenFor(peer: string): { k: string; a: Uint8Array } | undefined {
    const curve = this.curve
    if (!curve) return undefined
    let tok = this.outTokens.get(peer)
    if (tok === undefined) {
      const peerKey = curve.keys.get(peer)
      tok = peerKey ? controlToken(sharedSecret(curve.secretKey, curve.publicKey, peerKey), curve.name, peer) : null
      this.outTokens.set(peer, tok)
    }
    return tok ? { k: curve.name, a: tok } : undefined
  }

  /** Who sent a request from routing id `from` carrying key name `k` and token `a` (both absent without CURVE). */
  caller(from: string, k: unknown, a: unknown): Caller {
    const curve = this.curve
    if (!curve) return { id: from, admin: from.startsWith('@'), principal: from }
    if (typeof k !== 'string' || !(a instanceof Uint8Array) || a.length !== 16) return { id: from, admin: false }
    let expected = this.inTokens.get(k)
    if (expected === undefined) {
      const senderKey = curve.keys.get(k)
      expected = senderKey ? controlToken(sharedSecret(curve.secretKey, curve.publicKey, senderKey), k, curve.name) : null
      this.inTokens.set(k, expected)
    }
    if (!expected || !timingSafeEqual(expected, a)) return { id: from, admin: false }
    const admin = curve.admins.has(k)
    return k === from || admin ? { id: from, key: k, admin, principal: from } : { id: from, key: k, admin: false }
  }

  /** Throws NOT_AUTHORISED (counted) unless `caller` may send `type` by the command rules. */
  checkCommand(caller: Caller, type: string): void {
    if (!this.enforce || !ADMIN_COMMANDS.has(type) || caller.admin) return
    if (this.alsoAllowed?.(caller, type)) return
    this.refuse(caller, type, `"${type}" is for the launcher or an admin key`)
  }

  /**
   * Throws NOT_AUTHORISED (counted) unless `caller` may read or change the MR
   * owned by `owner` (the peer that registered it, or for which it was registered).
   */
  mrAccess(caller: Caller | undefined, owner: string | undefined, type: string, stag: number): void {
    if (!this.enforce || !caller || caller.admin) return
    if (caller.principal !== undefined && (caller.principal === owner || caller.principal === this.self)) return
    this.refuse(caller, type, `MR 0x${(stag >>> 0).toString(16)} belongs to ${owner ?? 'this node'}`)
  }

  private refuse(caller: Caller, type: string, why: string): never {
    const c = this.counters
    c.refused++
    c.byType[type] = (c.byType[type] ?? 0) + 1
    const who = caller.key && caller.key !== caller.id ? `${caller.id} (key ${caller.key})` : caller.id
    c.byCaller[who] = (c.byCaller[who] ?? 0) + 1
    throw new EmuError(ErrorCodes.NOT_AUTHORISED, `${this.self}: ${type} refused to ${who}: ${why}`, { caller: caller.id, type })
  }
}

/**
 * CURVE for the transport of `identity`: each peer's public key by its name
 * (plus `extra` ids, e.g. the launcher's key on a node), and the allow-list
 * for its ROUTER. Undefined without an identity (plain ZeroMQ).
 */
export function transportCurve(identity: CurveIdentity | undefined, auth: ControlAuth, extra: Record<string, string | undefined> = {}): TransportCurve | undefined {
  return identity && {
    publicKey: identity.publicKey,
    secretKey: identity.secretKey,
    serverKeyOf: (peer) => (Object.hasOwn(extra, peer) ? extra[peer] : identity.keys.get(peer)),
    allow: (key) => auth.allowsKey(key),
  }
}
