/**
 * A bounded FIFO in front of one ZeroMQ socket. zeromq.js allows a single
 * pending send() per socket (a second throws EBUSY), so every send goes
 * through this queue, which keeps at most one send() in flight.
 *
 * Fast path: with nothing in flight, push() hands the message to the socket
 * at once, in the caller's tick (zeromq.js sends synchronously when the socket
 * is writable and resolves the promise in the same tick). Only messages pushed
 * while a send is still unresolved wait in the FIFO; each settled send starts
 * the next one from its promise callback. No async function, no per-message
 * array churn when the queue is idle: the control plane's round trip and the
 * data plane's trains share this path.
 */
import type { FramePart } from './transport.ts'

export interface SendTarget {
  send(message: FramePart[]): Promise<void>
}

export class SendQueue {
  private items: FramePart[][] = []
  private head = 0
  /** A send() is in flight (its promise not settled yet). */
  private busy = false
  private closed = false
  private readonly settled = (): void => this.next()
  private readonly failed = (err: unknown): void => {
    if (!this.closed) this.onError(err as Error)
    this.next()
  }

  constructor(
    private readonly socket: SendTarget,
    private readonly limit: number,
    private readonly onError: (err: Error) => void,
  ) {}

  get length(): number {
    return this.items.length - this.head
  }

  /** Queue a message; false when the queue is full (the caller counts a drop). */
  push(message: FramePart[]): boolean {
    if (this.closed) return false
    if (!this.busy) {
      this.start(message)
      return true
    }
    if (this.limit > 0 && this.length >= this.limit) return false
    this.items.push(message)
    return true
  }

  /** Drop whatever is queued; the socket is about to close. */
  close(): void {
    this.closed = true
    this.items = []
    this.head = 0
  }

  /** Send `message`, then whatever a synchronous failure leaves queued behind it. */
  private start(message: FramePart[]): void {
    for (;;) {
      this.busy = true
      try {
        this.socket.send(message).then(this.settled, this.failed)
        return
      } catch (err) {
        // A synchronous throw (e.g. the socket closed under us): report it and
        // move on, so what is queued behind it is neither stuck nor reordered.
        if (!this.closed) this.onError(err as Error)
      }
      const following = this.shift()
      if (!following) {
        this.busy = false
        return
      }
      message = following
    }
  }

  private next(): void {
    const message = this.shift()
    if (message) this.start(message)
    else this.busy = false
  }

  private shift(): FramePart[] | undefined {
    if (this.closed || this.head >= this.items.length) return undefined
    const message = this.items[this.head]!
    this.items[this.head++] = undefined as unknown as FramePart[]
    if (this.head === this.items.length) {
      this.items.length = 0
      this.head = 0
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      // Compact now and then so a long-lived backlog does not grow forever.
      this.items = this.items.slice(this.head)
      this.head = 0
    }
    return message
  }
}
