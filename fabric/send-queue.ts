/**
 * A bounded FIFO in front of one ZeroMQ socket. zeromq.js allows a single
 * pending send() per socket (a second throws EBUSY), so every send goes
 * through a queue that one pump drains, awaiting each send in turn.
 */
import type { FramePart } from './transport.ts'

export interface SendTarget {
  send(message: FramePart[]): Promise<void>
}

export class SendQueue {
  private items: FramePart[][] = []
  private head = 0
  private pumping = false
  private closed = false

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
    if (this.limit > 0 && this.length >= this.limit) return false
    this.items.push(message)
    if (!this.pumping) void this.pump()
    return true
  }

  /** Drop whatever is queued; the socket is about to close. */
  close(): void {
    this.closed = true
    this.items = []
    this.head = 0
  }

  private async pump(): Promise<void> {
    this.pumping = true
    try {
      while (!this.closed && this.head < this.items.length) {
        const message = this.items[this.head]!
        this.items[this.head++] = undefined as unknown as FramePart[]
        // Compact now and then so a long-lived queue does not grow forever.
        if (this.head > 1024 && this.head * 2 > this.items.length) {
          this.items = this.items.slice(this.head)
          this.head = 0
        }
        try {
          await this.socket.send(message)
        } catch (err) {
          if (this.closed) break
          this.onError(err as Error)
        }
      }
    } finally {
      this.pumping = false
    }
  }
}
