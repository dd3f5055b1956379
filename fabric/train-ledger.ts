/**
 * The DATA frames exchanged with each peer: the counts behind the echo in
 * every DATA header, and the pooled trains sent to a peer that it has not
 * reported received yet. ZeroMQ sends large buffers zero-copy, so a pooled
 * train goes back to the pool only once the peer's echo says the train
 * arrived, never when send() returns.
 */
import { trainPool } from './train-pool.ts'

interface PeerTrains {
  sent: number
  received: number
  /** Pooled trains not yet echoed (sequence number, buffer), oldest first from lentHead. */
  lent: Array<{ seq: number; train: Uint8Array }>
  lentHead: number
}

export class TrainLedger {
  private readonly peers = new Map<string, PeerTrains>()

  /** The echo a train to `peer` carries: how many of its trains we have received. */
  echoFor(peer: string): number {
    return this.peer(peer).received
  }

  /** A train went to `peer`: a pooled one is lent until the peer echoes it. */
  sent(peer: string, train: Uint8Array): void {
    const s = this.peer(peer)
    s.sent = (s.sent + 1) >>> 0
    if (trainPool.isPooled(train)) s.lent.push({ seq: s.sent, train })
  }

  /** A train from `from` arrived, echoing that it has received ours up to `echo`: their memory goes back to the pool. */
  arrived(from: string, echo: number): void {
    const s = this.peer(from)
    s.received = (s.received + 1) >>> 0
    const lent = s.lent
    let i = s.lentHead
    // Sequence numbers wrap at 2^32: compare by signed distance.
    while (i < lent.length && ((echo - lent[i]!.seq) | 0) >= 0) {
      trainPool.give(lent[i]!.train)
      lent[i++] = undefined as never
    }
    if (i === lent.length) {
      lent.length = 0
      i = 0
    } else if (i > 1024) {
      s.lent = lent.slice(i)
      i = 0
    }
    s.lentHead = i
  }

  /**
   * A peer that is gone reports nothing more: its unreported trains stay out
   * of the pool for good (ZeroMQ may still hold them), and a returning peer
   * starts counting afresh.
   */
  forget(peer: string): void {
    this.peers.delete(peer)
  }

  private peer(id: string): PeerTrains {
    let s = this.peers.get(id)
    if (!s) this.peers.set(id, (s = { sent: 0, received: 0, lent: [], lentHead: 0 }))
    return s
  }
}
