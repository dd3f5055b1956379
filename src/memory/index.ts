/**
 * ServerMemory: the server host's memory model in one object (main thread),
 * and ServerMemoryView: what a piscina worker rebuilds from `shared()`.
 */
import { EmuError, ErrorCodes } from '../errors.ts'
import { Params } from '../params.ts'
import { DaxDevice, type DaxDesc, type DaxStats } from './dax.ts'
import { FileSystem, type FsCounters, type WritebackMode } from './fs.ts'
import { Oracle, OWNER_ANON, OWNER_FREE, type OracleDesc, type OracleReport } from './oracle.ts'
import { PageFlags, PhysMem, type PhysMemDesc } from './phys.ts'
import { PinTable, type PinsDesc, type PinStats } from './pins.ts'
import { newOdpCounters, odpStats, type OdpStats } from './odp.ts'
import { StorageFaults, type StorageFaultStats } from './storage-faults.ts'

export * from './phys.ts'
export * from './dax.ts'
export * from './fs.ts'
export * from './pins.ts'
export * from './oracle.ts'
export * from './odp.ts'
export * from './leases.ts'
export * from './policy.ts'
export * from './storage-faults.ts'

export interface ServerMemoryOptions {
  dataDir: string
  deviceBytes?: number
  ramBytes?: number
  pageSize?: number
  dirtyExpireMs?: number
  writebackMode?: WritebackMode
  /** Periodic writeback interval; 0 (default) = no timer, call fs.writeback() yourself. */
  writebackIntervalMs?: number
  clock?: () => number
}

/** Everything a worker needs (structured-clone safe; never put it in a transferList). */
export interface ServerMemoryDesc {
  phys: PhysMemDesc
  dax: DaxDesc
  pins: PinsDesc
  oracle: OracleDesc
}

export interface ServerMemoryStats {
  pins: PinStats
  oracle: OracleReport
  fs: FsCounters & { freeBlocks: number; dirtyPages: number; retained: number; orphans: number; files: number }
  dax: DaxStats
  /** On-demand paging: faults, invalidations, prefetches (src/memory/odp.ts). */
  odp: OdpStats
  freeRamFrames: number
  /** Injected storage faults in force (fs.faults) and how often each struck. */
  storageFaults: StorageFaultStats
}

export class ServerMemory {
  readonly dax: DaxDevice
  readonly phys: PhysMem
  readonly pins: PinTable
  readonly oracle: Oracle
  readonly fs: FileSystem
  /** Node-wide ODP counters, shared with every ODP region (and so with the workers). */
  readonly odpCounters = newOdpCounters()
  /** Injected storage faults (fs.faults): fsync EIO, RDMA FLUSH EIO, ENOSPC. */
  readonly faults = new StorageFaults()

  constructor(opts: ServerMemoryOptions) {
    const pageSize = opts.pageSize ?? Params.defaultPageSize
    const deviceBytes = opts.deviceBytes ?? Params.defaultDeviceBytes
    const ramBytes = opts.ramBytes ?? Params.defaultRamBytes
    if (ramBytes % pageSize !== 0) throw new EmuError(ErrorCodes.EINVAL, `ramBytes must be a multiple of pageSize`)
    const clock = opts.clock ?? Date.now
    this.dax = DaxDevice.open(opts.dataDir, { deviceBytes, pageSize })
    try {
      this.phys = new PhysMem({ pageSize, deviceFrames: deviceBytes / pageSize, ramFrames: ramBytes / pageSize, deviceSab: this.dax.sab })
      this.pins = new PinTable(this.phys, { clock })
      this.oracle = new Oracle(this.phys.totalFrames, this.phys.deviceFrames, { clock })
      const oracle = this.oracle
      this.fs = new FileSystem({
        dataDir: opts.dataDir,
        dax: this.dax,
        phys: this.phys,
        pins: this.pins,
        dirtyExpireMs: opts.dirtyExpireMs ?? Params.defaultDirtyExpireMs,
        writebackMode: opts.writebackMode ?? 'upstream',
        writebackIntervalMs: opts.writebackIntervalMs ?? 0,
        clock,
        faults: this.faults,
        onOwnerChange: (ev) => oracle.setOwner(ev.frame, ev.owner, ev.cause, ev.name ?? undefined),
      })
    } catch (err) {
      this.dax.close()
      throw err
    }
  }

  shared(): ServerMemoryDesc {
    return { phys: this.phys.shared(), dax: this.dax.shared(), pins: this.pins.shared(), oracle: this.oracle.shared() }
  }

  /** Anonymous memory: `pages` zeroed RAM frames owned by OWNER_ANON. */
  allocAnon(pages: number): number[] {
    const frames: number[] = []
    try {
      for (let i = 0; i < pages; i++) {
        const f = this.phys.allocRam(PageFlags.ANON)
        frames.push(f)
        this.oracle.setOwner(f, OWNER_ANON, 'anon')
      }
    } catch (err) {
      this.freeAnon(frames)
      throw err
    }
    return frames
  }

  /** Free anonymous frames. EBUSY (nothing freed) if any is pinned. */
  freeAnon(frames: readonly number[]): void {
    for (const f of frames) if (this.pins.isPinned(f)) throw new EmuError(ErrorCodes.EBUSY, `anon frame ${f} is pinned`)
    for (const f of frames) {
      this.phys.freeRam(f)
      this.oracle.setOwner(f, OWNER_FREE, 'anon-free')
    }
  }

  stats(): ServerMemoryStats {
    return { pins: this.pins.stats(), oracle: this.oracle.report(), fs: this.fs.stats(), dax: this.dax.stats(), odp: odpStats(this.odpCounters), freeRamFrames: this.phys.freeRamFrames(), storageFaults: this.faults.stats() }
  }

  /** Stop timers and close the image. Persists nothing: fs.syncAll() first for a clean shutdown. */
  close(): void {
    this.fs.shutdown()
    this.dax.close()
  }
}

/** Worker side: the shared tables, rebuilt over the same SharedArrayBuffers. */
export class ServerMemoryView {
  readonly phys: PhysMem
  readonly dax: DaxDevice
  readonly pins: PinTable
  readonly oracle: Oracle

  constructor(desc: ServerMemoryDesc) {
    this.phys = PhysMem.fromShared(desc.phys)
    this.dax = DaxDevice.fromShared(desc.dax)
    this.pins = PinTable.fromShared(this.phys, desc.pins)
    this.oracle = Oracle.fromShared(desc.oracle)
  }
}
