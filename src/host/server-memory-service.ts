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
 *   verbs.mr.advise {stag, advice, flags?, sgList? | offset?, length?} → {pages, async}
 *   mem.stats → ServerMemoryStats + {mrs}      mem.pinCounts {file, offset?, length?} → per page
 *   mem.odpQuery {stag} → OdpQuery + {kind}
 *   mem.odpInvalidate {stag, offset?, length?, how?} → {pages, seq}
 *   fs.lease {file} → {file, holder, breakTimeMs}   fs.unlease {file} → {}
 *   mem.leases → LeaseInfo[]
 *   mem.pinPages {file, offset, length, write?} → {handle, frames}   (short-term FOLL_PIN)
 *   mem.unpinPages {handle} → {}
 *   test.freeBehindMr {file, offset?, length?} → {blocks}   TEST ONLY
 *
 * The pin policy (config `server.policy`, src/memory/policy.ts) decides what
 * a long-term pin of a file range may do at registration and what truncate,
 * punch-hole and unlink do to pinned pages (the filesystem's layout guard).
 * layout-lease: file MRs need the file's exclusive layout lease (fs.lease from
 * the registering node); a layout change breaks it: the holder gets a
 * `lease.break` notice {server, file, stags, deadlineMs, op} and has
 * `leaseBreakTimeMs` to deregister those MRs and fs.unlease. Then the server
 * revokes: the STags are invalidated (accesses get REM_ACCESS_ERR), DMA in
 * flight on the holder's QPs in those PDs is waited out, those QPs go to ERR
 * (a remote-access-error NAK at the next PSN tells the requester), the pins
 * drop, the holder gets `lease.revoked` (and with `leaseRevokeKill` a
 * shutdown), and the layout change completes.
 *
 * Pins: an MR's pages are pinned FOLL_PIN | FOLL_LONGTERM (FOLL_WRITE when
 * the MR is writable) with the MR as pin owner, as ib_umem_get() does; they
 * are dropped with unpin_user_pages_dirty_lock semantics at deregistration,
 * and all of a peer's are dropped when it goes down. MRs deregistered by any
 * other path (the RDMA service's own peer clean-up) are reaped too.
 *
 * ODP MRs (Access.ON_DEMAND; src/memory/odp.ts) take no pins and map nothing
 * at registration: each page is faulted in on first access, in the data path.
 * An anonymous ODP MR has its RAM frames from the start (its CPU page table is
 * full), so its faults are minor and run wherever the access runs, worker
 * threads included. A file ODP MR's CPU page table is filled by major faults
 * on the main thread (`fileFault`: the filesystem's block map, a hole allocated
 * as a write fault would, past EOF an access error). The filesystem's MMU
 * notifier invalidates every ODP MR over the affected pages before truncate,
 * punch, unlink, drop_caches free a frame (or writeback cleans one), so an ODP
 * MR never touches a block the file no longer owns.
 *
 * Major faults on the data path: the worker that meets one hands its batch
 * back to the main thread and holds the QP's later batches (they come back
 * untouched), the main thread serves the fault and finishes the batches in
 * order, then gives the QP back to the worker (src/workers/worker-data-path.ts).
 * Chosen over an RNR NAK (mlx5's answer to a responder page fault): by the
 * time the worker runs, the responder has already accepted the packet and
 * moved its PSN on, so a NAK would have to unwind the responder's state,
 * while holding the QP keeps per-QP order with nothing to undo.
 */
import type { ControlPlane } from '../../fabric/control-plane.ts'
import { FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, LayoutPolicy, LeaseTable, OdpRegion, OdpStatus, OWNER_ANON, ServerMemory, type Lease, type LeaseCounters, type LeaseStanding, type LayoutGuard, type MajorFault, type Policy, type PolicyCounters, type ServerMemoryStats } from '../memory/index.ts'
import { FrameMemory } from '../memory/frame-memory.ts'
import { checkAccessFlags, MrState, type Mr } from '../memory/stag.ts'
import { EmuError, ErrorCodes } from '../errors.ts'
import { Params } from '../params.ts'
import { Access, QpState } from '../verbs/constants.ts'
import type { Qp } from '../verbs/qp.ts'
import { encodePacket } from '../../fabric/codec.ts'
import { Aeth, Op } from '../engine/opcodes.ts'
import { Msg } from '../launcher/protocol.ts'
import { mrInfo } from '../verbs/remote-verbs-service.ts'
import type { MemStatsReply, MrCounts, PolicyStats, RemoteMr } from '../../fabric/node-message-types.ts'
import type { RdmaService } from './rdma-service.ts'
import type { NodeContext } from './services.ts'
import { int, str } from './command-args.ts'
import { attachFsCommands } from './fs-commands.ts'
import { attachOdpCommands } from './odp-commands.ts'

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
  /** ODP MRs: the region, and for a file MR its inode and the file page of region page 0. */
  odp?: { mem: FrameMemory; region: OdpRegion; ino: number; firstFilePage: number }
  /** layout-lease: the inode whose layout lease this MR was registered under. */
  lease?: number
}

export { AdviseMr, type OdpDropHow } from './odp-commands.ts'

export interface ServerMemoryService {
  mem: ServerMemory
  /** The configured pin policy (its counters are in mem.stats `policy`). */
  policy: LayoutPolicy
  /**
   * Replace the layout guard (null: back to the configured policy's). Guards
   * go through here, not fs.setLayoutGuard, so the test-only bypass keeps working.
   */
  setLayoutGuard(guard: LayoutGuard | null): void
  /** Counts of live MRs by kind. */
  mrCounts(): MrCounts
  close(): void
}

export type { MemStatsReply, MrCounts, PolicyStats }

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

  // ---- the pin policy and layout leases ----
  const leases = new LeaseTable({ breakTimeMs: cfg.leaseBreakTimeMs })
  const revoked = { revokedMrs: 0, revokedQps: 0, holdersKilled: 0 }
  /** Short-term pins (mem.pinPages) by handle. */
  const shortPins = new Map<number, { owner: string; frames: number[]; write: boolean; peer: string }>()
  const policy = new LayoutPolicy(cfg.policy, { pins, breakLease: (ino, op) => breakLease(ino, op) })

  // The layout guard: the policy's, unless the test-only path bypasses it.
  let policyGuard: LayoutGuard = policy.guard
  let bypass = false
  fs.setLayoutGuard((ino, frames, op, info) => (bypass ? 'proceed' : policyGuard(ino, frames, op, info)))

  /** ODP MRs by inode, for the MMU notifier. */
  const odpByIno = new Map<number, Set<MrEntry>>()

  /** Drop an MR's pins (dirty-lock semantics) and free its anonymous frames. */
  const release = (e: Omit<MrEntry, 'mr'> & { mr?: Mr }, how: 'dereg' | 'peer'): void => {
    if (e.mr) entries.delete(e.mr)
    if (e.odp) {
      // ib_umem_odp_release: off the notifier list, then unmap everything and
      // wait out accesses still in flight before the frames may be freed.
      const set = odpByIno.get(e.odp.ino)
      if (set && e.mr) {
        set.delete(e as MrEntry)
        if (set.size === 0) odpByIno.delete(e.odp.ino)
      }
      const region = e.odp.region
      if (e.kind === 'anon') e.anonFrames = Array.from(region.backing).filter((f) => f >= 0)
      region.invalidate(0, region.pages, { clearBacking: true })
    }
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
    const entry: MrEntry = { ...e, mr }
    entries.set(mr, entry)
    if (entry.odp && entry.kind === 'file') {
      let set = odpByIno.get(entry.odp.ino)
      if (!set) odpByIno.set(entry.odp.ino, (set = new Set()))
      set.add(entry)
    }
    return mrInfo(mr)
  }

  /** MRs `holder` registered under the layout lease on `ino` (still registered). */
  const leaseMrs = (ino: number, holder: string): MrEntry[] => {
    reap()
    return [...entries.values()].filter((e) => e.lease === ino && e.peer === holder && e.mr.state !== MrState.FREE)
  }

  const standing = (ino: number, from: string): LeaseStanding => {
    const l = leases.get(ino)
    if (!l) return 'none'
    if (l.holder !== from) return 'other'
    return l.breaking ? 'breaking' : 'held'
  }

  /**
   * Let the data path finish what it already accepted for these QPs: the
   * STags are invalid by now, so nothing new starts; a batch already copying
   * finishes before the pins (and so the blocks) may go. A failed batch drops
   * the actions behind it, so a QP already in ERR counts as quiet too.
   */
  const quiesce = (qps: Qp[], capMs = 1000): Promise<void> =>
    Promise.all(qps.map((qp) => new Promise<void>((resolve) => {
      let settled = false
      const finish = (): void => {
        if (settled) return
        settled = true
        clearInterval(poll)
        clearTimeout(cap)
        resolve()
      }
      const poll = setInterval(() => { if (qp.state === QpState.ERR || qp.resp.failed) finish() }, 5)
      const cap = setTimeout(finish, capMs)
      device.dataPath.then(qp, finish)
      // Nothing else may commit this lane soon (no train may arrive): start the wait now.
      device.dataPath.commit(qp, false)
    }))).then(() => undefined)

  /**
   * Move a responder QP to ERR and tell its requester: a remote access error
   * NAK carrying the next PSN it would send. The requester completes what the
   * responder had received, fails its oldest outstanding WR with
   * REM_ACCESS_ERR and goes to ERR, idle or not (an unannounced ERR would
   * leave it retrying into silence).
   */
  const failQp = (qp: Qp, reason: string): boolean => {
    if (qp.state !== QpState.RTR && qp.state !== QpState.RTS && qp.state !== QpState.SQD) return false
    if (qp.resp.failed) return false
    device.counters.errorNaksSent++
    device.emit(qp.attr.destNode, encodePacket({ opcode: Op.ACKNOWLEDGE, destQp: qp.attr.destQpNum, psn: qp.resp.epsn, aeth: { syndrome: Aeth.NAK_REMOTE_ACCESS_ERROR, msn: qp.resp.msn } }))
    qp.resp.failed = true
    qp.toError(reason)
    return true
  }

  /** The break time ran out: take the lease's MRs away from its holder. */
  const revoke = async (lease: Lease): Promise<void> => {
    const mine = leaseMrs(lease.ino, lease.holder)
    const pds = new Set(mine.map((e) => e.mr.pd))
    // 1. Invalidate: the STags stop resolving (remote access error), and
    //    worker batches stop at their next operation (Mr.live). Out of the
    //    table now, so no reap() drops their pins before the DMA is over.
    for (const e of mine) {
      entries.delete(e.mr)
      if (e.mr.state !== MrState.FREE) device.deregMr(e.mr)
    }
    // 2. Wait out DMA already under way on the holder's QPs that could use them (same PD).
    const qps = [...device.allQps()].filter((q) => q.attr.destNode === lease.holder && pds.has(q.pd))
    await quiesce(qps)
    // 3. Those QPs go to ERR.
    let nQps = 0
    for (const qp of qps) if (failQp(qp, `layout lease on ${lease.file} revoked`)) nQps++
    // 4. The pins drop; the layout change waiting for them goes on.
    for (const e of mine) {
      try {
        release(e, 'dereg')
      } catch (err) {
        ctx.log.error({ err, stag: e.mr.stag }, 'revocation: pins not released')
      }
    }
    revoked.revokedMrs += mine.length
    revoked.revokedQps += nQps
    ctx.log.warn({ file: lease.file, holder: lease.holder, mrs: mine.length, qps: nQps, breakTimeMs: leases.breakTimeMs }, 'layout lease revoked')
    try {
      control.notify(lease.holder, 'lease.revoked', { server: ctx.id, file: lease.file, stags: mine.map((e) => e.mr.stag), qps: nQps })
    } catch (err) {
      ctx.log.debug({ err, holder: lease.holder }, 'lease.revoked notice not sent')
    }
    if (cfg.leaseRevokeKill) {
      // "if unhandled, process gets killed" (seed 001): ask the holder node to shut down.
      control.request(lease.holder, Msg.SHUTDOWN, null, 2000).then(
        () => { revoked.holdersKilled++ },
        (err) => ctx.log.warn({ err, holder: lease.holder }, 'revoked lease holder not shut down'),
      )
    }
  }

  /** layout-lease: a layout change over a leased file breaks the lease (null: no lease). */
  function breakLease(ino: number, op: string): Promise<unknown> | null {
    return leases.breakLease(ino, op, {
      notify: (lease) => {
        const stags = leaseMrs(ino, lease.holder).map((e) => e.mr.stag)
        ctx.log.info({ file: lease.file, holder: lease.holder, op, stags, breakTimeMs: leases.breakTimeMs }, 'layout lease break')
        try {
          control.notify(lease.holder, 'lease.break', { server: ctx.id, file: lease.file, stags, deadlineMs: leases.breakTimeMs, op })
        } catch (err) {
          // The holder is unreachable: the break runs out and revokes.
          ctx.log.warn({ err, holder: lease.holder }, 'lease-break notice not sent')
        }
      },
      expire: (lease) => revoke(lease),
    })
  }

  // ---- on-demand paging ----

  /**
   * The MMU notifier: the filesystem is about to free (or clean) the frames of
   * file pages [start, end). Every ODP MR over them unmaps them and waits out
   * accesses in flight, synchronously, before the filesystem goes on.
   */
  fs.setMmuNotifier((ino, start, end, event) => {
    const set = odpByIno.get(ino)
    if (!set) return
    for (const e of set) {
      const o = e.odp!
      // Writeback only write-protects: read-only mappings need nothing.
      if (event === 'mkclean' && !o.region.writable) continue
      const first = start - o.firstFilePage
      const last = end - o.firstFilePage
      if (last <= 0 || first >= o.region.pages) continue
      o.region.invalidate(first, last, { clearBacking: event !== 'mkclean' })
    }
  })

  /**
   * Major fault of a file ODP MR (main thread): fill the CPU page table of
   * region pages [first, last] from the file's block map, as hmm_range_fault()
   * through the filesystem's fault handler. A writable MR faults for write
   * (HMM_PFN_REQ_WRITE), so a hole gets a block; the emulator has no shared
   * zero page, so a read-only MR's hole gets one too. A page at or past EOF is
   * an access error (SIGBUS); so is a file that is gone, or a full device.
   */
  const fileFault = (ino: number, firstFilePage: number, region: OdpRegion): MajorFault => (first, last) => {
    let allocated = false
    let dax = false
    try {
      const st = fs.stat(ino)
      dax = st.dax
      for (let pi = first; pi <= last; pi++) {
        if (Atomics.load(region.backing, pi) >= 0) continue
        const fp = firstFilePage + pi
        if (fp * ps >= st.size) return OdpStatus.ACCESS_ERROR
        if (fs.blockOf(ino, fp) < 0) allocated = true
        const [frame] = fs.mapRange(ino, fp * ps, Math.min(ps, st.size - fp * ps), { allocate: true })
        Atomics.store(region.backing, pi, frame!)
      }
    } catch (err) {
      ctx.log.debug({ err, ino }, 'ODP major fault failed')
      return OdpStatus.ACCESS_ERROR
    } finally {
      // MAP_SYNC analogue: a block handed to DMA is in the durable block map first.
      if (allocated && dax) {
        try {
          fs.fsync(ino)
        } catch (err) {
          ctx.log.error({ err, ino }, 'ODP fault: block map commit failed')
        }
      }
    }
    return OdpStatus.OK
  }

  const odpDesc = (pages: number, backing: number[] | undefined, access: number) => OdpRegion.createDesc(pages, backing, (access & WRITE_ACCESS) !== 0, mem.odpCounters)

  const odpEntry = (stag: number): MrEntry & { odp: NonNullable<MrEntry['odp']> } => {
    reap()
    const mr = device.mrs.byStag(stag)
    if (!mr) throw new EmuError(ErrorCodes.ENOENT, `no MR with stag 0x${(stag >>> 0).toString(16)}`)
    const e = entries.get(mr)
    if (!e?.odp) throw new EmuError(ErrorCodes.EINVAL, `MR 0x${(stag >>> 0).toString(16)} is not an ODP MR`)
    return e as MrEntry & { odp: NonNullable<MrEntry['odp']> }
  }

  const pinFrames = (frames: number[], access: number, owner: string): { pinned: number[]; write: boolean } => {
    const write = (access & WRITE_ACCESS) !== 0
    // ODP MRs take no pins: their pages are faulted in on access.
    if (access & Access.ON_DEMAND) return { pinned: [], write }
    pins.pinUserPages(frames, { owner, longterm: true, write })
    return { pinned: frames, write }
  }

  const h: ControlPlane['handle'] = (type, fn) => control.handle(type, fn)

  // ---- filesystem ----
  // A lease the unlink did not have to break (no blocks) goes with the file.
  attachFsCommands(control, fs, (ino) => leases.end(ino, 'file-gone'))

  // ---- memory registration ----
  h('verbs.mr.regFile', (b: { pd: number; file: string; offset: number; length: number; access: number; iova?: number }, from) => {
    reap()
    const name = str(b?.file, 'file')
    const offset = int(b.offset, 'offset')
    const length = int(b.length, 'length')
    let access = int(b.access, 'access')
    checkAccessFlags(access)
    if (!(access & Access.ON_DEMAND) && policy.forcesOdp) {
      // Policy odp: a file MR never pins; it is registered as an ODP MR.
      fs.lookup(name)
      access |= Access.ON_DEMAND
      policy.counters.odpForced++
    }
    if (access & Access.ON_DEMAND) {
      // No pins, nothing mapped, no EOF check: pages fault in on access (and a
      // range past EOF becomes usable when the file grows).
      const ino = fs.lookup(name)
      const pages = length === 0 ? 0 : Math.ceil(((offset % ps) + length) / ps)
      const frameMem = new FrameMemory(mem, { frames: new Array<number>(pages).fill(-1), offset: offset % ps, length, expectedIno: ino, odp: odpDesc(pages, undefined, access) })
      const region = frameMem.odp!
      const firstFilePage = Math.floor(offset / ps)
      region.majorFault = fileFault(ino, firstFilePage, region)
      const pinOwner = `${from}/mr${++seq}`
      return register(b.pd, frameMem, access, { kind: 'file', pinOwner, pinned: [], write: (access & WRITE_ACCESS) !== 0, anonFrames: [], peer: from, file: name, odp: { mem: frameMem, region, ino, firstFilePage } }, b.iova)
    }
    const ino = fs.lookup(name)
    const st = fs.stat(ino)
    const write = (access & WRITE_ACCESS) !== 0
    // The policy's word on a long-term pin comes before GUP touches anything.
    policy.checkLongTermPin({ file: name, dax: st.dax, write, lease: standing(ino, from) })
    // GUP faults the range in: holes get blocks (or page-cache pages); past EOF is EFAULT.
    const frames = fs.mapRange(ino, offset, length, { allocate: true })
    // MAP_SYNC analogue: a DAX mapping that DMA may write and FLUSH must
    // survive a crash, so the file's block map is made durable before the
    // pages are handed out.
    if (st.dax && length > 0) fs.fsync(ino)
    const pinOwner = `${from}/mr${++seq}`
    const { pinned } = pinFrames(frames, access, pinOwner)
    const frameMem = new FrameMemory(mem, { frames, offset: offset % ps, length, expectedIno: ino })
    const lease = policy.needsLease ? ino : undefined
    return register(b.pd, frameMem, access, { kind: 'file', pinOwner, pinned, write, anonFrames: [], peer: from, file: name, lease }, b.iova)
  })

  // ---- layout leases (policy layout-lease) ----
  // F_SETLEASE(F_LAYOUT), exclusive, held by the node that asks.
  h('fs.lease', (b: { file: string }, from) => {
    const name = str(b?.file, 'file')
    const ino = fs.lookup(name)
    if (!policy.needsLease) throw new EmuError(ErrorCodes.EOPNOTSUPP, `layout leases need policy layout-lease (this server: ${policy.name})`)
    const l = leases.acquire(ino, name, from)
    return { file: name, holder: l.holder, breakTimeMs: leases.breakTimeMs }
  })
  // F_SETLEASE(F_UNLCK). Found by name even after an unlink took the name
  // (the holder answering a break caused by that unlink).
  h('fs.unlease', (b: { file: string }, from) => {
    const name = str(b?.file, 'file')
    let ino: number | undefined
    try {
      ino = fs.lookup(name)
    } catch {
      // Gone from the namespace: maybe unlinked under a lease.
    }
    const l = (ino !== undefined ? leases.get(ino) : undefined) ?? leases.byFile(name)
    if (!l) {
      if (ino === undefined) throw new EmuError(ErrorCodes.ENOENT, `${name} not found`)
      throw new EmuError(ErrorCodes.EINVAL, `${name} has no layout lease`)
    }
    leases.release(l.ino, name, from, leaseMrs(l.ino, from).length)
    return {}
  })
  h('mem.leases', () => leases.list())

  // ---- short-term pins ----
  // FOLL_PIN without FOLL_LONGTERM on a file range (what direct I/O in flight
  // holds): every policy allows it; the layout guard sees it like any pin.
  h('mem.pinPages', (b: { file: string; offset: number; length: number; write?: boolean }, from) => {
    const ino = fs.lookup(str(b?.file, 'file'))
    const frames = fs.mapRange(ino, int(b.offset, 'offset'), int(b.length, 'length'), { allocate: true })
    const handle = ++seq
    const owner = `${from}/gup${handle}`
    const write = b.write === true
    pins.pinUserPages(frames, { owner, longterm: false, write })
    shortPins.set(handle, { owner, frames, write, peer: from })
    return { handle, frames }
  })
  h('mem.unpinPages', (b: { handle: number }) => {
    const handle = int(b?.handle, 'handle')
    const p = shortPins.get(handle)
    if (!p) throw new EmuError(ErrorCodes.ENOENT, `no short-term pin ${handle}`)
    shortPins.delete(handle)
    pins.unpinUserPagesDirtyLock(p.frames, p.write, p.owner)
    return {}
  })

  h('verbs.mr.reg', (b: { pd: number; length: number; access: number; iova?: number }, from) => {
    reap()
    const length = int(b?.length, 'length')
    const access = int(b.access, 'access')
    if (length > Params.maxMessageSize) throw new EmuError(ErrorCodes.EINVAL, `bad MR length ${length}`)
    checkAccessFlags(access)
    const frames = mem.allocAnon(Math.ceil(length / ps))
    const pinOwner = `${from}/mr${++seq}`
    if (access & Access.ON_DEMAND) {
      // The frames are the process's anonymous memory (its CPU page table is
      // full); the MR maps nothing until an access or a prefetch faults it in.
      let frameMem: FrameMemory
      try {
        frameMem = new FrameMemory(mem, { frames: new Array<number>(frames.length).fill(-1), offset: 0, length, expectedIno: OWNER_ANON, odp: odpDesc(frames.length, frames, access) })
      } catch (err) {
        mem.freeAnon(frames)
        throw err
      }
      const region = frameMem.odp!
      // Never needed: anonymous pages are always in the CPU page table.
      region.majorFault = () => OdpStatus.ACCESS_ERROR
      return register(b.pd, frameMem, access, { kind: 'anon', pinOwner, pinned: [], write: (access & WRITE_ACCESS) !== 0, anonFrames: frames, peer: from, odp: { mem: frameMem, region, ino: OWNER_ANON, firstFilePage: 0 } }, b.iova)
    }
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
  const policyStats = (): PolicyStats => {
    const list = leases.list()
    return {
      name: policy.name,
      leaseBreakTimeMs: leases.breakTimeMs,
      ...policy.counters,
      shortTermPins: shortPins.size,
      leases: { ...leases.counters, active: list.length, breaking: list.filter((l) => l.breaking).length, ...revoked },
    }
  }
  const mrCounts = (): MrCounts => {
    reap()
    let file = 0
    let anon = 0
    for (const e of entries.values()) {
      if (e.kind === 'file') file++
      else anon++
    }
    return { file, anon, device: device.mrs.size }
  }
  h('mem.stats', (): MemStatsReply => {
    const st = mem.stats()
    const mrs = mrCounts()
    let odp = 0
    for (const e of entries.values()) if (e.odp) odp++
    return { ...st, mrs, odp: { ...st.odp, mrs: odp }, policy: policyStats() }
  })
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

  // ---- ODP: prefetch, inspection, dropping pages ----
  attachOdpCommands(control, { mem, log: ctx.log, odpEntry })

  // TEST ONLY: free a file's blocks behind its MRs' backs, bypassing the pins
  // and the layout policy, so the next allocation reuses them (the unsafe
  // case the oracle measures). Never used by the product itself. ODP MRs are
  // still invalidated first: the MMU notifier is the mm's, not a policy.
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
    for (const [handle, p] of [...shortPins]) {
      if (p.peer !== info.id) continue
      shortPins.delete(handle)
      pins.releaseOwner(p.owner)
    }
    // Its leases go too (a break waiting on it completes).
    const lost = leases.dropHolder(info.id)
    if (lost) ctx.log.info({ peer: info.id, leases: lost }, 'peer down: its layout leases released')
  }
  control.transport.on('peer', onPeer)

  return {
    mem,
    policy,
    setLayoutGuard(guard) {
      policyGuard = guard ?? policy.guard
    },
    mrCounts,
    close() {
      control.transport.off('peer', onPeer)
      leases.close()
      // Clean unmount: everything reaches the image before it closes (not
      // when orphaned: that is a crash, and a sync on a loaded disk can take
      // longer than anyone waits).
      try {
        if (!ctx.orphaned) mem.fs.syncAll()
      } catch (err) {
        ctx.log.error({ err }, 'final sync failed')
      }
      mem.close()
    },
  }
}
