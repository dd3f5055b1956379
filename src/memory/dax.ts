/**
 * The persistent DAX device: a SharedArrayBuffer arena backed by `dax.img` in
 * the node's data directory.
 *
 * Persistence model: the SAB is the CPU-visible memory (think CPU caches plus
 * the NIC's DDIO); the file is the persistence domain. Bytes reach the file
 * only through persist()/persistRange() (RDMA FLUSH, fs write-through, fsync),
 * and are made durable by sync() (fdatasync). A process killed with -9 loses
 * every store that was never persisted, as a power cut loses unflushed cache
 * lines; bytes written with writeSync survive process death (OS page cache).
 */
import * as nodefs from 'node:fs'
import * as path from 'node:path'
import { EmuError, ErrorCodes } from '../errors.ts'
import { Params } from '../params.ts'

export const DAX_IMAGE = 'dax.img'

export interface DaxOptions {
  deviceBytes: number
  pageSize: number
}

/** What a worker needs to persist bytes itself (fd numbers are process-wide). */
export interface DaxDesc {
  sab: SharedArrayBuffer
  pageSize: number
  frames: number
  fd: number
}

export interface DaxStats {
  persistCalls: number
  persistedBytes: number
  syncCalls: number
}

export class DaxDevice {
  readonly sab: SharedArrayBuffer
  readonly bytes: Uint8Array
  readonly pageSize: number
  readonly frames: number
  readonly path: string | null
  private fd: number
  private readonly ownsFd: boolean
  private readonly counters: DaxStats = { persistCalls: 0, persistedBytes: 0, syncCalls: 0 }

  private constructor(sab: SharedArrayBuffer, pageSize: number, fd: number, file: string | null, ownsFd: boolean) {
    this.sab = sab
    this.bytes = new Uint8Array(sab)
    this.pageSize = pageSize
    this.frames = sab.byteLength / pageSize
    this.fd = fd
    this.path = file
    this.ownsFd = ownsFd
  }

  /**
   * Open (or create, sparse and zeroed) `dataDir/dax.img` and load it into a
   * fresh SharedArrayBuffer. EINVAL if an existing image has another size.
   */
  static open(dataDir: string, opts: DaxOptions): DaxDevice {
    const { deviceBytes, pageSize } = opts
    if (!Number.isInteger(deviceBytes) || deviceBytes <= 0 || deviceBytes % pageSize !== 0) {
      throw new EmuError(ErrorCodes.EINVAL, `deviceBytes must be a positive multiple of pageSize (${pageSize}), got ${deviceBytes}`)
    }
    nodefs.mkdirSync(dataDir, { recursive: true })
    const file = path.join(dataDir, DAX_IMAGE)
    const fd = nodefs.openSync(file, nodefs.constants.O_RDWR | nodefs.constants.O_CREAT, 0o644)
    try {
      const size = nodefs.fstatSync(fd).size
      const sab = new SharedArrayBuffer(deviceBytes)
      if (size === 0) {
        nodefs.ftruncateSync(fd, deviceBytes) // sparse: reads back as zeros
        nodefs.fsyncSync(fd)
      } else if (size !== deviceBytes) {
        throw new EmuError(ErrorCodes.EINVAL, `${file} is ${size} bytes, configured deviceBytes is ${deviceBytes}`)
      } else {
        const view = new Uint8Array(sab)
        let off = 0
        while (off < deviceBytes) {
          const n = nodefs.readSync(fd, view, off, Math.min(deviceBytes - off, Params.daxLoadChunkBytes), off)
          if (n <= 0) break
          off += n
        }
      }
      return new DaxDevice(sab, pageSize, fd, file, true)
    } catch (err) {
      nodefs.closeSync(fd)
      throw err
    }
  }

  /** Worker side: persist through the main thread's fd (it stays owned by the main thread). */
  static fromShared(desc: DaxDesc): DaxDevice {
    return new DaxDevice(desc.sab, desc.pageSize, desc.fd, null, false)
  }

  shared(): DaxDesc {
    return { sab: this.sab, pageSize: this.pageSize, frames: this.frames, fd: this.fd }
  }

  frameView(frame: number): Uint8Array {
    this.checkFrame(frame)
    return this.bytes.subarray(frame * this.pageSize, (frame + 1) * this.pageSize)
  }

  private checkFrame(frame: number): void {
    if (!Number.isInteger(frame) || frame < 0 || frame >= this.frames) {
      throw new EmuError(ErrorCodes.EFAULT, `device frame ${frame} out of range`)
    }
  }

  /** Write bytes [devOffset, devOffset+len) of the arena through to the image. */
  persistBytes(devOffset: number, len: number): void {
    if (len <= 0) return
    if (this.fd < 0) throw new EmuError(ErrorCodes.EINVAL, 'DAX device is closed')
    if (devOffset < 0 || devOffset + len > this.bytes.length) {
      throw new EmuError(ErrorCodes.EFAULT, `persist range ${devOffset}+${len} outside the device`)
    }
    let done = 0
    while (done < len) {
      done += nodefs.writeSync(this.fd, this.bytes, devOffset + done, len - done, devOffset + done)
    }
    this.counters.persistCalls++
    this.counters.persistedBytes += len
  }

  /** Write part of one frame through (RDMA FLUSH of a sub-page range). */
  persist(frame: number, offset = 0, len = this.pageSize - offset): void {
    this.checkFrame(frame)
    if (offset < 0 || len < 0 || offset + len > this.pageSize) {
      throw new EmuError(ErrorCodes.EINVAL, `persist: bad range ${offset}+${len} in a ${this.pageSize}-byte page`)
    }
    this.persistBytes(frame * this.pageSize + offset, len)
  }

  /** Write whole frames through; runs of consecutive frames become one write. */
  persistRange(frames: Iterable<number>): void {
    const sorted = [...new Set(frames)].filter((f) => f >= 0).sort((a, b) => a - b)
    let i = 0
    while (i < sorted.length) {
      let j = i
      while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++
      this.checkFrame(sorted[j]!)
      this.persistBytes(sorted[i]! * this.pageSize, (j - i + 1) * this.pageSize)
      i = j + 1
    }
  }

  /** fdatasync the image: everything persisted so far is durable. */
  sync(): void {
    if (this.fd < 0) return
    nodefs.fdatasyncSync(this.fd)
    this.counters.syncCalls++
  }

  stats(): DaxStats {
    return { ...this.counters }
  }

  /** Close the image (main thread only). Does not persist: call persist/sync first. */
  close(): void {
    if (this.ownsFd && this.fd >= 0) nodefs.closeSync(this.fd)
    this.fd = -1
  }
}
