/**
 * The address rules of a raw configuration, past what the schema says: what
 * cannot work is refused before any process starts, one line per problem,
 * naming the JSON path and ending with the problem's stable code:
 *
 * - a bind to a hostname (or an interface name): libzmq binds only an IP
 *   address or a wildcard (ERR_CONFIG_BIND_HOSTNAME);
 * - two nodes advertising one endpoint host:port (ERR_CONFIG_ENDPOINT_DUPLICATE);
 * - a wildcard bind (0.0.0.0, ::, *) with no address to advertise, or a
 *   wildcard advertised (ERR_CONFIG_WILDCARD_NO_ADVERTISE);
 * - an advertised address that is neither an IP address nor a hostname
 *   (ERR_CONFIG_ADVERTISE_INVALID).
 *
 * `host` is bind and advertise both (the one setting of old); `bind` and
 * `advertise` each override it.
 */
import { isIP } from 'node:net'
import { ErrorCodes, type ErrorCode } from '../errors.ts'
import { WILDCARDS } from './endpoint.ts'

export interface AddressProblem {
  /** The JSON path, e.g. nodes[1].bind. */
  path: string
  code: ErrorCode
  /** The line users read: path, what is wrong, then the code in brackets. */
  line: string
}

/** RFC 1123 host names: dot-separated labels of letters, digits and inner '-'. */
const HOSTNAME = /^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined)

/** The address problems of `nodes` (raw, schema not yet passed: wrong types are skipped, the schema reports them). */
export function addressProblems(nodes: readonly unknown[]): AddressProblem[] {
  const out: AddressProblem[] = []
  const add = (path: string, code: ErrorCode, text: string): void => void out.push({ path, code, line: `${path}: ${text} [${code}]` })
  const advertised = new Map<string, string>()
  nodes.forEach((node, i) => {
    if (typeof node !== 'object' || node === null || Array.isArray(node)) return
    const n = node as Record<string, unknown>
    if ((n.transport ?? 'tcp') !== 'tcp') return
    const at = `nodes[${i}]`
    const host = str(n.host)
    const bind = str(n.bind)
    const advertise = str(n.advertise)
    // What binds, and the setting that said so.
    const bound = bind ?? host
    const bindPath = bind !== undefined ? `${at}.bind` : `${at}.host`
    const wildcardBind = bound !== undefined && WILDCARDS.includes(bound)
    if (bound !== undefined && !wildcardBind && isIP(bound) === 0) {
      add(bindPath, ErrorCodes.CONFIG_BIND_HOSTNAME, `expected an IP address or a wildcard (0.0.0.0, ::, *) to bind, got ${JSON.stringify(bound)}: libzmq binds no hostname${bind === undefined ? '; give "bind" (a local IP address or a wildcard) and "advertise" (the hostname peers dial)' : '; put the hostname in "advertise"'}`)
    }
    // What peers dial, and the setting that said so.
    const dialled = advertise ?? host ?? bind
    const dialPath = advertise !== undefined ? `${at}.advertise` : bindPath
    if (advertise !== undefined && WILDCARDS.includes(advertise)) {
      add(dialPath, ErrorCodes.CONFIG_WILDCARD_NO_ADVERTISE, `expected an address peers can dial (an IP address or a hostname), got the wildcard ${JSON.stringify(advertise)}`)
      return
    }
    if (wildcardBind && (dialled === undefined || WILDCARDS.includes(dialled))) {
      add(bindPath, ErrorCodes.CONFIG_WILDCARD_NO_ADVERTISE, `a wildcard bind (${JSON.stringify(bound)}) needs "advertise": the IP address or hostname peers dial to reach this node`)
      return
    }
    if (advertise !== undefined && isIP(advertise) === 0 && !HOSTNAME.test(advertise)) {
      add(dialPath, ErrorCodes.CONFIG_ADVERTISE_INVALID, `expected an IP address or a hostname, got ${JSON.stringify(advertise)}`)
      return
    }
    // Two nodes that peers would dial at the same host:port (port 0 picks a port of its own: never a clash).
    const port = n.port
    if (typeof port === 'number' && Number.isInteger(port) && port > 0) {
      const endpoint = `${(dialled ?? '127.0.0.1').toLowerCase()}:${port}`
      const path = advertise !== undefined ? `${at}.advertise` : `${at}.port`
      const first = advertised.get(endpoint)
      if (first !== undefined) add(path, ErrorCodes.CONFIG_ENDPOINT_DUPLICATE, `duplicate endpoint ${endpoint} (also ${first})`)
      else advertised.set(endpoint, path)
    }
  })
  return out
}
