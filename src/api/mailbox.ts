/**
 * Messages between hosts (host.send / host.recv), the way MPI ranks pass
 * small values: a program tells another where its buffer is, that it is
 * ready, what it found. Each message is a `program.message` request, so
 * send() resolves once the receiving host has queued it. Bodies travel as
 * msgpackr values (numbers, strings, bigints, Uint8Arrays, plain objects and
 * arrays). Messages wait in the receiver's mailbox until a recv() takes them,
 * so a message sent before the receiving program asks for it is not lost.
 */
import type { ControlPlane } from '../../fabric/control-plane.ts'
import { EmuError, ErrorCodes } from '../errors.ts'

/** One received message. */
export interface HostMessage {
  /** The sending host's id. */
  from: string
  tag?: string
  data: unknown
}

/** Which message recv() takes: the oldest matching one. */
export interface RecvFilter {
  from?: string
  tag?: string
  /** Reject EmuError(TIMEOUT) after this long (ms); default: wait forever. */
  timeoutMs?: number
}

interface Waiter {
  filter: RecvFilter
  resolve: (m: HostMessage) => void
  timer?: NodeJS.Timeout
}

/** A host's incoming messages, queued until a recv() takes them (see the module comment). */
export class Mailbox {
  private readonly control: ControlPlane
  private readonly queue: HostMessage[] = []
  private readonly waiters: Waiter[] = []

  constructor(control: ControlPlane) {
    this.control = control
    control.handle('program.message', (b, from) => {
      this.deliver({ from, tag: b.tag, data: b.data })
      return {}
    })
  }

  /** Send `data` (optionally tagged) to host `to`; resolves once it is in that host's mailbox. */
  async send(to: string, data: unknown, tag?: string, timeoutMs?: number): Promise<void> {
    await this.control.request(to, 'program.message', tag === undefined ? { data } : { tag, data }, timeoutMs)
  }

  /** The oldest message matching `filter`, waiting for one if none is queued. */
  recv(filter: RecvFilter = {}): Promise<HostMessage> {
    const i = this.queue.findIndex((m) => matches(m, filter))
    if (i >= 0) return Promise.resolve(this.queue.splice(i, 1)[0]!)
    return new Promise((resolve, reject) => {
      const w: Waiter = { filter, resolve }
      if (filter.timeoutMs !== undefined) {
        w.timer = setTimeout(() => {
          this.waiters.splice(this.waiters.indexOf(w), 1)
          const what = [filter.from && `from ${filter.from}`, filter.tag && `tagged ${filter.tag}`].filter(Boolean).join(' ')
          reject(new EmuError(ErrorCodes.TIMEOUT, `no message${what ? ` ${what}` : ''} within ${filter.timeoutMs} ms`))
        }, filter.timeoutMs)
      }
      this.waiters.push(w)
    })
  }

  private deliver(m: HostMessage): void {
    const i = this.waiters.findIndex((w) => matches(m, w.filter))
    if (i < 0) {
      this.queue.push(m)
      return
    }
    const [w] = this.waiters.splice(i, 1)
    clearTimeout(w!.timer)
    w!.resolve(m)
  }
}

function matches(m: HostMessage, f: RecvFilter): boolean {
  return (f.from === undefined || m.from === f.from) && (f.tag === undefined || m.tag === f.tag)
}
