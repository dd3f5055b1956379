/**
 * The server host's memory on the control plane: the persistent DAX device and
 * its filesystem (ServerMemory in the node's data directory), file-backed
 * MRs ("an STag for storage") and anonymous MRs over the shared RAM arena,
 * their page pins, and the oracle report.
 *
 * Control-plane API (request bodies → replies):
 *   fs.create {name, dax?} → {ino}            fs.write {name, offset, data} → {written}
 *   fs.read {name, offset, length} → bytes     fs.truncate {name, size} → {}
 *   fs.punch {name, offset, length} → {}       fs.fallocate {name, mode, offset, length} → {}
 *   fs.fsync {name} → FsyncResult              fs.unlink {name} → {}
 *   fs.stat {name} → Stat                      fs.extents {name} → Extent[]
 *   fs.list → names
 *   verbs.mr.regFile {pd, file, offset, length, access, iova?} → RemoteMr
 *   verbs.mr.reg / verbs.mr.dereg              (overridden: RAM arena, pins)
 *   mem.stats → ServerMemoryStats + {mrs}      mem.pinCounts {file, offset?, length?} → per page
 *   test.freeBehindMr {file, offset?, length?} → {blocks}   TEST ONLY
 *
 * Pins: an MR's pages are pinned FOLL_PIN | FOLL_LONGTERM (FOLL_WRITE when
 * the MR is writable) with the MR as pin owner, as ib_umem_get() does; they
 * are dropped with unpin_user_pages_dirty_lock semantics at deregistration,
 * and all of a peer's are dropped when it goes down. MRs deregistered by any
 * other path (the RDMA service's own peer clean-up) are reaped too.
 */
import { FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, OWNER_ANON, ServerMemory, type LayoutGuard, type ServerMemoryStats } from '../memory/index.ts'
import { FrameMemory } from '../memory/frame-memory.ts'
import { checkAccessFlags, MrState, type Mr } from '../memory/stag.ts'
import { EmuError, ErrorCodes } from '../errors.ts'
import { Params } from '../params.ts'
import { Access } from '../verbs/constants.ts'
import { mrInfo, type RemoteMr } from '../verbs/remote-verbs-service.ts'
import type { RdmaService } from './rdma-service.ts'
import type { NodeContext } from './services.ts'

/** Bookkeeping of one server MR backed by FrameMemory. */
interface MrEntry {
  mr: Mr
  kind: 'file' | 'anon'
  /** Pin owner (unique per MR). */
  pinOwner: string
  /** Frames pinned (one pin each); empty for ODP. */
  pinned: number[]
  /** Pinned for write (unpin dirties page-cache pages). */
  write: boolean
  /** Anonymous frames to free after unpinning. */
  anonFrames: number[]
  peer: string
  file?: string
}

export interface ServerMemoryService {
  mem: ServerMemory
  /**
   * Install the layout policy (the fs layout guard). Policies go through here,
   * not fs.setLayoutGuard, so the test-only bypass keeps working.
   */
  setLayoutGuard(guard: LayoutGuard | null): void
  /** Counts of live MRs by kind. */
  mrCounts(): { file: number; anon: number; device: number }
  close(): void
}

export interface MemStatsReply extends ServerMemoryStats {
  mrs: { file: number; anon: number; device: number }
}

const WRITE_ACCESS = Access.LOCAL_WRITE | Access.REMOTE_WRITE | Access.REMOTE_ATOMIC

export function attachServerMemory(ctx: NodeContext, rdma: RdmaService): ServerMemoryService {
  if (ctx.nodeConfig.role !== 'server') throw new EmuError(ErrorCodes.EINVAL, `node ${ctx.id} is not a server`)
  const cfg = ctx.nodeConfig.server
  const mem = new ServerMemory({
    dataDir: ctx.dataDir,
    deviceBytes: cfg.deviceBytes,
    pageSize: cfg.pageSize,
    ramBytes: Params.defaultRamBytes,
    dirtyExpireMs: cfg.dirtyExpireMs,
    writebackMode: cfg.writebackMode,
    writebackIntervalMs: Params.defaultWritebackIntervalMs,
  })
  const { fs, pins } = mem
  const { device } = rdma
  const control = ctx.control
  const ps = mem.phys.pageSize
  const entries = new Map<Mr, MrEntry>()
  let seq = 0

  // The layout guard: the policy's, unless the test-only path bypasses it.
  let policyGuard: LayoutGuard = () => 'proceed'
  let bypass = false
  fs.setLayoutGuard((ino, frames, op, info) => (bypass ? 'proceed' : policyGuard(ino, frames, op, info)))

  /** Drop an MR's pins (dirty-lock semantics) and free its anonymous frames. */
  const release = (e: Omit<MrEntry, 'mr'> & { mr?: Mr }, how: 'dereg' | 'peer'): void => {
    if (e.mr) entries.delete(e.mr)
    if (e.pinned.length) {
      if (how === 'peer') pins.releaseOwner(e.pinOwner)
      else pins.unpinUserPagesDirtyLock(e.pinned, e.write, e.pinOwner)
    }
    if (e.anonFrames.length) {
      try {
        mem.freeAnon(e.anonFrames)
      } catch (err) {
        ctx.log.error({ err, stag: e.mr?.stag }, 'anonymous MR frames not freed')
      }
    }
  }

  /** Release MRs deregistered behind our back (e.g. the RDMA service's own clean-up). */
  const reap = (): void => {
    for (const e of [...entries.values()]) if (e.mr.state === MrState.FREE) release(e, 'peer')
  }

  const register = (pd: number, frameMem: FrameMemory, access: number, e: Omit<MrEntry, 'mr'>, iova?: number): RemoteMr => {
    let mr: Mr
    try {
      mr = device.regMemory(pd, frameMem, access, { iova, owner: e.peer })
    } catch (err) {
      release(e, 'dereg')
      throw err
    }
    entries.set(mr, { ...e, mr })
    return mrInfo(mr)
  }

  const pinFrames = (frames: number[], access: number, owner: string): { pinned: number[]; write: boolean } => {
    const write = (access & WRITE_ACCESS) !== 0
    // ODP MRs take no pins: their pages are faulted in on access.
    if (access & Access.ON_DEMAND) return { pinned: [], write }
    pins.pinUserPages(frames, { owner, longterm: true, write })
    return { pinned: frames, write }
  }

  const h = (type: string, fn: (body: any, from: string) => unknown): void => control.handle(type, fn)

  // ---- filesystem ----
  h('fs.create', (b: { name: string; dax?: boolean }) => ({ ino: fs.create(str(b?.name, 'name'), { dax: b.dax === true }) }))
  h('fs.write', (b: { name: string; offset: number; data: Uint8Array }) => {
    const ino = fs.lookup(str(b?.name, 'name'))
    return { written: fs.write(ino, int(b.offset, 'offset'), bytes(b.data)) }
  })
  h('fs.read', (b: { name: string; offset: number; length: number }) => fs.read(fs.lookup(str(b?.name, 'name')), int(b.offset, 'offset'), int(b.length, 'length')))
  h('fs.truncate', async (b: { name: string; size: number }) => {
    await fs.truncate(fs.lookup(str(b?.name, 'name')), int(b.size, 'size'))
    return {}
  })
  h('fs.punch', async (b: { name: string; offset: number; length: number }) => {
    await fs.fallocate(fs.lookup(str(b?.name, 'name')), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, int(b.offset, 'offset'), int(b.length, 'length'))
    return {}
  })
  h('fs.fallocate', async (b: { name: string; mode?: number; offset: number; length: number }) => {
    await fs.fallocate(fs.lookup(str(b?.name, 'name')), int(b.mode ?? 0, 'mode'), int(b.offset, 'offset'), int(b.length, 'length'))
    return {}
  })
  h('fs.fsync', (b: { name: string }) => fs.fsync(fs.lookup(str(b?.name, 'name'))))
  h('fs.unlink', async (b: { name: string }) => {
    await fs.unlink(str(b?.name, 'name'))
    return {}
  })
  h('fs.stat', (b: { name: string }) => fs.stat(fs.lookup(str(b?.name, 'name'))))
  h('fs.extents', (b: { name: string }) => fs.extents(fs.lookup(str(b?.name, 'name'))))
  h('fs.list', () => fs.list())

  // ---- memory registration ----
  h('verbs.mr.regFile', (b: { pd: number; file: string; offset: number; length: number; access: number; iova?: number }, from) => {
    reap()
    const name = str(b?.file, 'file')
    const offset = int(b.offset, 'offset')
    const length = int(b.length, 'length')
    const access = int(b.access, 'access')
    checkAccessFlags(access)
    if (access & Access.ON_DEMAND) throw new EmuError(ErrorCodes.EOPNOTSUPP, 'ODP file MRs are not supported yet')
    const ino = fs.lookup(name)
    const st = fs.stat(ino)
    // GUP faults the range in: holes get blocks (or page-cache pages); past EOF is EFAULT.
    const frames = fs.mapRange(ino, offset, length, { allocate: true })
    // MAP_SYNC analogue: a DAX mapping that DMA may write and FLUSH must
    // survive a crash, so the file's block map is made durable before the
    // pages are handed out.
    if (st.dax && length > 0) fs.fsync(ino)
    const pinOwner = `${from}/mr${++seq}`
    const { pinned, write } = pinFrames(frames, access, pinOwner)
    const frameMem = new FrameMemory(mem, { frames, offset: offset % ps, length, expectedIno: ino })
    return register(b.pd, frameMem, access, { kind: 'file', pinOwner, pinned, write, anonFrames: [], peer: from, file: name }, b.iova)
  })

  h('verbs.mr.reg', (b: { pd: number; length: number; access: number; iova?: number }, from) => {
    reap()
    const length = int(b?.length, 'length')
    const access = int(b.access, 'access')
    if (length > Params.maxMessageSize) throw new EmuError(ErrorCodes.EINVAL, `bad MR length ${length}`)
    checkAccessFlags(access)
    const frames = mem.allocAnon(Math.ceil(length / ps))
    const pinOwner = `${from}/mr${++seq}`
    let pinned: number[] = []
    let write = false
    try {
      ;({ pinned, write } = pinFrames(frames, access, pinOwner))
    } catch (err) {
      mem.freeAnon(frames)
      throw err
    }
    const frameMem = new FrameMemory(mem, { frames, offset: 0, length, expectedIno: OWNER_ANON })
    return register(b.pd, frameMem, access, { kind: 'anon', pinOwner, pinned, write, anonFrames: frames, peer: from }, b.iova)
  })

  h('verbs.mr.dereg', (b: { stag: number }) => {
    const mr = device.mrs.byStag(int(b?.stag, 'stag'))
    if (!mr) throw new EmuError(ErrorCodes.ENOENT, `no MR with stag 0x${(b.stag >>> 0).toString(16)}`)
    device.deregMr(mr)
    const e = entries.get(mr)
    if (e) release(e, 'dereg')
    reap()
    return {}
  })

  // ---- stats and inspection ----
  const mrCounts = (): { file: number; anon: number; device: number } => {
    reap()
    let file = 0
    let anon = 0
    for (const e of entries.values()) {
      if (e.kind === 'file') file++
      else anon++
    }
    return { file, anon, device: device.mrs.size }
  }
  h('mem.stats', (): MemStatsReply => ({ ...mem.stats(), mrs: mrCounts() }))
  h('mem.pinCounts', (b: { file: string; offset?: number; length?: number }) => {
    reap()
    const ino = fs.lookup(str(b?.file, 'file'))
    const st = fs.stat(ino)
    const offset = int(b.offset ?? 0, 'offset')
    const length = int(b.length ?? Math.max(0, st.size - offset), 'length')
    const frames: number[] = []
    for (let pi = Math.floor(offset / ps); pi * ps < offset + length; pi++) {
      frames.push(st.dax ? fs.blockOf(ino, pi) : fs.cacheFrameOf(ino, pi))
    }
    return {
      frames,
      pins: frames.map((f) => (f >= 0 ? pins.pinCount(f) : 0)),
      refcounts: frames.map((f) => (f >= 0 ? pins.refcount(f) : 0)),
    }
  })

  // TEST ONLY: free a file's blocks behind its MRs' backs, bypassing the pins
  // and the layout policy, so the next allocation reuses them (the unsafe
  // case the oracle measures). Never used by the product itself.
  h('test.freeBehindMr', async (b: { file: string; offset?: number; length?: number }) => {
    const ino = fs.lookup(str(b?.file, 'file'))
    const size = fs.stat(ino).size
    const offset = int(b.offset ?? 0, 'offset')
    const length = int(b.length ?? Math.max(0, size - offset), 'length')
    const before = new Set(fs.extents(ino).flatMap((x) => Array.from({ length: x.len }, (_, i) => x.block + i)))
    if (length > 0) {
      bypass = true
      try {
        await fs.fallocate(ino, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, length)
      } finally {
        bypass = false
      }
    }
    const after = new Set(fs.extents(ino).flatMap((x) => Array.from({ length: x.len }, (_, i) => x.block + i)))
    // In freeing order: the LIFO allocator hands out the last one first.
    return { blocks: [...before].filter((blk) => !after.has(blk)) }
  })

  // A peer that goes down loses its MRs and pins. The RDMA service (attached
  // first, so its listener runs first) deregisters the MRs; we drop the pins.
  const onPeer = (info: { id: string; state: string }): void => {
    if (info.state !== 'down') return
    let n = 0
    for (const e of [...entries.values()]) {
      if (e.peer !== info.id) continue
      if (e.mr.state !== MrState.FREE) device.deregMr(e.mr)
      release(e, 'peer')
      n++
    }
    reap()
    if (n) ctx.log.info({ peer: info.id, mrs: n }, 'peer down: its MR pins released')
  }
  control.transport.on('peer', onPeer)

  return {
    mem,
    setLayoutGuard(guard) {
      policyGuard = guard ?? (() => 'proceed')
    },
    mrCounts,
    close() {
      control.transport.off('peer', onPeer)
      // Clean unmount: everything reaches the image before it closes.
      try {
        mem.fs.syncAll()
      } catch (err) {
        ctx.log.error({ err }, 'final sync failed')
      }
      mem.close()
    },
  }
}

function str(v: unknown, what: string): string {
  if (typeof v !== 'string' || v.length === 0) throw new EmuError(ErrorCodes.EINVAL, `${what} must be a non-empty string`)
  return v
}

function int(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new EmuError(ErrorCodes.EINVAL, `${what} must be a non-negative integer, got ${String(v)}`)
  return v
}

function bytes(v: unknown): Uint8Array {
  if (!(v instanceof Uint8Array)) throw new EmuError(ErrorCodes.EINVAL, 'data must be bytes')
  return v
}
