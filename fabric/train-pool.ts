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
 * copies pooled trains (isPooled).
 */

/** Bytes per chunk: a full train of 64 MTU-4096 packets with their headers. */
export const TRAIN_CHUNK_BYTES = 272 * 1024
/** Chunks per slab, and most slabs per process (64 chunks, 17 MiB). */
const CHUNKS_PER_SLAB = 16
const MAX_SLABS = 4
/** Below this a train comes from Node's own small-buffer pool, which is cheap already. */
const MIN_POOLED_BYTES = 2048

export class TrainPool {
  private readonly slabs: ArrayBuffer[] = []
  /** Free chunks: slab index * CHUNKS_PER_SLAB + chunk index. */
  private readonly free: number[] = []
  /** Trains served from the pool, chunks given back, and trains that got a plain Buffer. */
  lent = 0
  returned = 0
  fallbacks = 0

  /** A buffer of `bytes` for a train; its contents are undefined. */
  take(bytes: number): Buffer {
    if (bytes < MIN_POOLED_BYTES || bytes > TRAIN_CHUNK_BYTES) return Buffer.allocUnsafe(bytes)
    const chunk = this.free.length ? this.free.pop()! : this.grow()
    if (chunk < 0) {
      this.fallbacks++
      return Buffer.allocUnsafe(bytes)
    }
    this.lent++
    const slab = this.slabs[Math.floor(chunk / CHUNKS_PER_SLAB)]!
    return Buffer.from(slab, (chunk % CHUNKS_PER_SLAB) * TRAIN_CHUNK_BYTES, bytes)
  }

  /** True when `buf` lies in this pool's memory. */
  isPooled(buf: Uint8Array): boolean {
    return this.slabs.includes(buf.buffer as ArrayBuffer)
  }

  /** Take back the chunk of a train from take(): nobody reads or writes it any more. */
  give(buf: Uint8Array): void {
    const s = this.slabs.indexOf(buf.buffer as ArrayBuffer)
    if (s < 0) return
    this.free.push(s * CHUNKS_PER_SLAB + Math.floor(buf.byteOffset / TRAIN_CHUNK_BYTES))
    this.returned++
  }

  /** A new slab's first chunk (the rest go to the free list), or -1 at the limit. */
  private grow(): number {
    if (this.slabs.length >= MAX_SLABS) return -1
    const s = this.slabs.length
    this.slabs.push(new ArrayBuffer(TRAIN_CHUNK_BYTES * CHUNKS_PER_SLAB))
    for (let i = CHUNKS_PER_SLAB - 1; i > 0; i--) this.free.push(s * CHUNKS_PER_SLAB + i)
    return s * CHUNKS_PER_SLAB
  }
}

/** The process's pool: every train a node sends comes from it. */
export const trainPool = new TrainPool()
