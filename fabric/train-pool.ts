import { Params } from '../src/params.ts'
/**
 * Recycled memory for outgoing packet trains (a NIC driver's page pool).
 *
 * A fresh Buffer per train costs an allocation, page faults when it is first
 * written, and, being external memory, a share of a full garbage collection
 * (V8 starts one for every 64 MiB or so of new external memory). At a few
 * hundred MB/s of trains that was a large part of a sender's CPU: a 264 KB
 * train cost about twice as much CPU to fill and send fresh as from reused
 * memory.
 *
 * Trains are carved from fixed-size chunks of a few slabs instead. ZeroMQ
 * sends a train zero-copy, so its chunk may only be reused once ZeroMQ can
 * no longer read it: the control plane gives a chunk back when the peer
 * reports (in a DATA frame header, see fabric/frame.ts) that it has received
 * the train, which means every byte of it has left this process. When every
 * chunk is out, or a train is too big or too small for one, it gets a plain
 * Buffer as before.
 *
 * Receivers must not keep views of a pooled train: a transport that hands
 * the sender's buffer itself to the receiver (the in-process loopback)
 * copies pooled trains (isPooled). Sizes: Params.train*.
 */
export class TrainPool {
  private readonly slabs: ArrayBuffer[] = []
  /** Free chunks: slab index * chunks per slab + chunk index. */
  private readonly free: number[] = []
  /** Trains served from the pool, chunks given back, and trains that got a plain Buffer. */
  lent = 0
  returned = 0
  fallbacks = 0

  /** A buffer of `bytes` for a train; its contents are undefined. */
  take(bytes: number): Buffer {
    if (bytes < Params.trainMinPooledBytes || bytes > Params.trainChunkBytes) return Buffer.allocUnsafe(bytes)
    const chunk = this.free.length ? this.free.pop()! : this.grow()
    if (chunk < 0) {
      this.fallbacks++
      return Buffer.allocUnsafe(bytes)
    }
    this.lent++
    const slab = this.slabs[Math.floor(chunk / Params.trainChunksPerSlab)]!
    return Buffer.from(slab, (chunk % Params.trainChunksPerSlab) * Params.trainChunkBytes, bytes)
  }

  /** True when `buf` lies in this pool's memory. */
  isPooled(buf: Uint8Array): boolean {
    return this.slabs.includes(buf.buffer as ArrayBuffer)
  }

  /** Take back the chunk of a train from take(): nobody reads or writes it any more. */
  give(buf: Uint8Array): void {
    const s = this.slabs.indexOf(buf.buffer as ArrayBuffer)
    if (s < 0) return
    this.free.push(s * Params.trainChunksPerSlab + Math.floor(buf.byteOffset / Params.trainChunkBytes))
    this.returned++
  }

  /** A new slab's first chunk (the rest go to the free list), or -1 at the limit. */
  private grow(): number {
    if (this.slabs.length >= Params.trainMaxSlabs) return -1
    const s = this.slabs.length
    this.slabs.push(new ArrayBuffer(Params.trainChunkBytes * Params.trainChunksPerSlab))
    for (let i = Params.trainChunksPerSlab - 1; i > 0; i--) this.free.push(s * Params.trainChunksPerSlab + i)
    return s * Params.trainChunksPerSlab
  }
}

/** The process's pool: every train a node sends comes from it. */
export const trainPool = new TrainPool()
