/**
 * The process's ZAP handler (ZeroMQ RFC 27): libzmq asks it, over
 * `inproc://zeromq.zap.01` in the sockets' context, whether a client that
 * completed the CURVE handshake may connect. One REP socket serves the whole
 * process (the inproc address can be bound once per context); each CURVE
 * server socket names its ZAP domain, and the domain's check decides on the
 * client's public key. A refused client gets no connection: libzmq drops it
 * after the handshake, before any message of it reaches the socket.
 */
import { Reply } from 'zeromq'
import { EmuError, ErrorCodes } from '../src/errors.ts'

export const ZAP_ENDPOINT = 'inproc://zeromq.zap.01'

/** Decides on a client's raw 32-byte CURVE public key; true lets it connect. */
export type ZapCheck = (clientKey: Uint8Array) => boolean

export interface ZapCounters {
  accepted: number
  refused: number
}

interface Domain {
  check: ZapCheck
  counters: ZapCounters
}

const domains = new Map<string, Domain>()
let socket: Reply | undefined
let starting: Promise<void> | undefined

/**
 * Register the check of a ZAP domain (unique per CURVE server socket) and make
 * sure the handler runs. Returns the domain's counters.
 */
export async function registerZapDomain(domain: string, check: ZapCheck): Promise<ZapCounters> {
  if (domains.has(domain)) throw new EmuError(ErrorCodes.EEXIST, `ZAP domain ${domain} is already registered`)
  const counters: ZapCounters = { accepted: 0, refused: 0 }
  domains.set(domain, { check, counters })
  try {
    starting ??= startHandler()
    await starting
  } catch (err) {
    domains.delete(domain)
    starting = undefined
    throw err
  }
  return counters
}

/** Forget a domain; the handler stops with the last one (so a process can exit). */
export function unregisterZapDomain(domain: string): void {
  domains.delete(domain)
  if (domains.size === 0 && socket) {
    socket.close()
    socket = undefined
    starting = undefined
  }
}

async function startHandler(): Promise<void> {
  const s = new Reply({ linger: 0 })
  try {
    // A handler closed a moment ago (its last domain went) may still hold the inproc name: retry briefly.
    for (let attempt = 0; ; attempt++) {
      try {
        await s.bind(ZAP_ENDPOINT)
        break
      } catch (err) {
        if (attempt >= 50 || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err
        await new Promise((resolve) => setTimeout(resolve, 10))
      }
    }
  } catch (err) {
    s.close()
    throw new EmuError(ErrorCodes.TRANSPORT, `cannot bind the ZAP handler at ${ZAP_ENDPOINT}: ${(err as Error).message}`, { cause: err })
  }
  socket = s
  void serve(s)
}

async function serve(s: Reply): Promise<void> {
  while (!s.closed) {
    let req: Buffer[]
    try {
      req = await s.receive()
    } catch {
      return
    }
    // version, request id, domain, address, identity, mechanism, credentials...
    const [version, requestId, domainFrame, , , mechanism, credentials] = req
    let ok = false
    const domain = domains.get(domainFrame?.toString() ?? '')
    if (version?.toString() === '1.0' && mechanism?.toString() === 'CURVE' && credentials?.length === 32 && domain) {
      try {
        ok = domain.check(credentials)
      } catch {
        ok = false
      }
    }
    if (domain) {
      if (ok) domain.counters.accepted++
      else domain.counters.refused++
    }
    try {
      await s.send(['1.0', requestId ?? '', ok ? '200' : '400', ok ? 'OK' : 'key not allowed', '', ''])
    } catch {
      if (s.closed) return
    }
  }
}
