/**
 * The launcher's side of the start-up handshake (protocol.ts): `hello` and
 * `ready` from every node. At launch, each hello is answered once every node
 * has said hello (with the full peer list), and each ready once every node is
 * ready. A node that returns later (Cluster.restartNode) is answered at once:
 * its hello with the peers running then, its ready as soon as it comes.
 */
import type { Logger } from 'pino'
import type { ControlPlane } from '../../fabric/control-plane.ts'
import { EmuError, ErrorCodes } from '../errors.ts'
import { Msg, type HelloBody, type HelloReply, type PeerEndpoint, type ReadyBody } from './protocol.ts'

interface Return {
  resolve: (r: ReadyBody) => void
  reject: (err: Error) => void
}

export class Startup {
  readonly hellos = new Map<string, HelloBody>()
  readonly readies = new Map<string, ReadyBody>()
  /** Resolves once every node of the launch is ready. */
  readonly allReady: Promise<void>
  private readonly ids: Set<string>
  private launched = false
  private readonly returning = new Map<string, Return>()

  /**
   * @param live whether a node is running and reachable now (a returning
   *   node is told only of these peers; a killed or paused one could not answer its pings).
   */
  constructor(control: ControlPlane, ids: readonly string[], log: Logger, live: (id: string) => boolean) {
    this.ids = new Set(ids)
    let resolveAllHello!: (peers: PeerEndpoint[]) => void
    const allHello = new Promise<PeerEndpoint[]>((r) => (resolveAllHello = r))
    let resolveAllReady!: () => void
    this.allReady = new Promise<void>((r) => (resolveAllReady = r))
    const peerList = (filter: (id: string) => boolean): PeerEndpoint[] =>
      [...this.hellos.values()].filter((h) => filter(h.id)).map(({ id, role, endpoint }) => ({ id, role, endpoint }))

    control.handle(Msg.HELLO, (body: HelloBody, from: string) => {
      if (!this.ids.has(from) || body?.id !== from) throw new EmuError(ErrorCodes.EINVAL, `hello from unexpected node "${from}"`)
      if (this.launched && !this.returning.has(from)) throw new EmuError(ErrorCodes.EINVAL, `hello from node "${from}", which was not restarted`)
      this.hellos.set(from, body)
      log.info({ node: from, pid: body.pid, endpoint: body.endpoint, returning: this.launched }, 'hello')
      if (this.launched) return { peers: peerList((id) => id === from || live(id)) }
      if (this.hellos.size === this.ids.size) resolveAllHello(peerList(() => true))
      return allHello.then((peers): HelloReply => ({ peers }))
    })
    // Answered once every node is ready: a node's program starts only when the whole cluster is up.
    control.handle(Msg.READY, (body: ReadyBody, from: string) => {
      if (!this.ids.has(from)) throw new EmuError(ErrorCodes.EINVAL, `ready from unexpected node "${from}"`)
      const back = this.returning.get(from)
      if (this.launched && !back) throw new EmuError(ErrorCodes.EINVAL, `ready from node "${from}", which was not restarted`)
      this.readies.set(from, body)
      log.info({ node: from, returning: this.launched }, 'ready')
      if (back) {
        this.returning.delete(from)
        back.resolve(body)
        return { ok: true }
      }
      if (this.readies.size === this.ids.size) resolveAllReady()
      return this.allReady.then(() => ({ ok: true }))
    })
  }

  /** The launch is over: from now on only returning nodes may say hello. */
  markLaunched(): void {
    this.launched = true
  }

  /**
   * Node `id` is being started again: forget its hello and ready, and resolve
   * with its new ready. `abandon` rejects the wait (its process died first).
   */
  expectReturn(id: string): { ready: Promise<ReadyBody>; abandon: (err: Error) => void } {
    this.hellos.delete(id)
    this.readies.delete(id)
    let ret!: Return
    const ready = new Promise<ReadyBody>((resolve, reject) => (ret = { resolve, reject }))
    this.returning.set(id, ret)
    return {
      ready,
      abandon: (err) => {
        if (this.returning.get(id) !== ret) return
        this.returning.delete(id)
        ret.reject(err)
      },
    }
  }
}
