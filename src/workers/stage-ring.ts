/**
 * Staging space for payloads on their way to a worker: a SharedArrayBuffer
 * ring per QP, carved into one contiguous slice per batch and released in
 * batch order (batches of one QP complete in order). When the ring is full
 * a batch gets a buffer of its own, so the data path never waits on it.
 */
export interface StageSlice {
  sab: SharedArrayBuffer
  /** Offset of the slice in `sab`. */
  base: number
  bytes: number
  /** Ring slices are released; one-off buffers are just dropped. */
  ring: boolean
}

export class StageRing {
  private sab: SharedArrayBuffer | undefined
  private head = 0
  /** Slices handed out and not released, oldest first: [base, bytes]. */
  private readonly live: Array<[number, number]> = []
  oneOffs = 0

  constructor(private readonly size: number) {}

  take(bytes: number): StageSlice {
    if (bytes > this.size / 2) return this.oneOff(bytes)
    this.sab ??= new SharedArrayBuffer(this.size)
    let base: number
    if (this.live.length === 0) {
      base = 0
    } else {
      const tail = this.live[0]![0]
      if (this.head > tail) {
        // Free: [head, size) and [0, tail).
        if (this.size - this.head >= bytes) base = this.head
        else if (tail >= bytes) base = 0
        else return this.oneOff(bytes)
      } else {
        // Wrapped (or exactly full): free is [head, tail).
        if (tail - this.head >= bytes && this.head !== tail) base = this.head
        else return this.oneOff(bytes)
      }
    }
    this.head = base + bytes
    this.live.push([base, bytes])
    return { sab: this.sab, base, bytes, ring: true }
  }

  /** Release the oldest ring slice. */
  release(s: StageSlice): void {
    if (!s.ring) return
    this.live.shift()
    if (this.live.length === 0) this.head = 0
  }

  private oneOff(bytes: number): StageSlice {
    this.oneOffs++
    return { sab: new SharedArrayBuffer(Math.max(bytes, 1)), base: 0, bytes, ring: false }
  }
}
