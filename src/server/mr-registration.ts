/**
 * What registering a server MR does: file MRs ("an STag for storage",
 * seed 004) over a range of a file, and anonymous MRs over the shared RAM
 * arena, each pinned long-term or, with ON_DEMAND, paged on demand.
 *
 * The pin policy (config `server.policy`, src/memory/policy.ts) has its word
 * on a long-term pin of a file range before GUP touches anything; policy odp
 * registers every file MR as an ODP MR. Arguments arrive checked
 * (src/server/mr-commands.ts).
 */
import { OWNER_ANON, type LayoutPolicy, type ServerMemory } from '../memory/index.ts'
import { FrameMemory } from '../memory/frame-memory.ts'
import { checkAccessFlags } from '../memory/stag.ts'
import { EmuError, ErrorCodes } from '../errors.ts'
import { Params } from '../params.ts'
import { Access } from '../verbs/constants.ts'
import type { RemoteMr } from '../verbs/remote-verbs-service.ts'
import type { FileMapping } from '../../fabric/node-message-types.ts'
import type { LeaseRevocation } from './lease-revocation.ts'
import { WRITE_ACCESS, type MrRegistry, type OdpMr } from './mr-registry.ts'
import type { OdpBinding } from './odp-binding.ts'

/** verbs.mr.regFile, checked. */
export interface FileMrRequest {
  pd: number
  file: string
  offset: number
  length: number
  access: number
  iova?: number
  /** The mmap(2) the MR stands for (MAP_SHARED or MAP_PRIVATE, fabric/node-message-types.ts FileMapping). Default 'shared'. */
  mapping?: FileMapping
}

export interface MrRegistrationDeps {
  mem: ServerMemory
  registry: MrRegistry
  odp: OdpBinding
  policy: LayoutPolicy
  revocation: LeaseRevocation
  /** The server's id sequence (pin owners share it with short-term pin handles). */
  nextId: () => number
}

export class MrRegistration {
  constructor(private readonly deps: MrRegistrationDeps) {}

  /** A file MR for node `from`. */
  regFile(r: FileMrRequest, from: string): RemoteMr {
    const { mem, registry, odp, policy, revocation, nextId } = this.deps
    const { fs } = mem
    const { file: name, offset, length } = r
    let access = r.access
    checkAccessFlags(access)
    if (!(access & Access.ON_DEMAND) && policy.forcesOdp) {
      // Policy odp: a file MR never pins; it is registered as an ODP MR.
      fs.lookup(name)
      access |= Access.ON_DEMAND
      policy.counters.odpForced++
    }
    const write = (access & WRITE_ACCESS) !== 0
    if (access & Access.ON_DEMAND) {
      const o = odp.fileMemory(fs.lookup(name), offset, length, access)
      const pinOwner = `${from}/mr${nextId()}`
      return registry.add(r.pd, o.mem, access, { kind: 'file', pinOwner, pinned: [], write, anonFrames: [], peer: from, file: name, odp: o }, r.iova)
    }
    const ino = fs.lookup(name)
    const st = fs.stat(ino)
    const mapping = r.mapping ?? 'shared'
    // The policy's word on a long-term pin comes before GUP touches anything.
    policy.checkLongTermPin({ file: name, dax: st.dax, write, shared: mapping === 'shared', lease: revocation.standing(ino, from) })
    if (mapping === 'private' && write) return this.regPrivateCow(r, ino, access, from)
    // GUP faults the range in: holes get blocks (or page-cache pages); past EOF is EFAULT.
    const frames = fs.mapRange(ino, offset, length, { allocate: true })
    // MAP_SYNC analogue: a DAX mapping that DMA may write and FLUSH must
    // survive a crash, so the file's block map is made durable before the
    // pages are handed out.
    if (st.dax && length > 0) fs.fsync(ino)
    const pinOwner = `${from}/mr${nextId()}`
    const { pinned } = registry.pinFrames(frames, access, pinOwner)
    const frameMem = new FrameMemory(mem, { frames, offset: offset % mem.phys.pageSize, length, expectedIno: ino })
    const lease = policy.needsLease ? ino : undefined
    return registry.add(r.pd, frameMem, access, { kind: 'file', pinOwner, pinned, write, anonFrames: [], peer: from, file: name, lease }, r.iova)
  }

  /**
   * A writable MAP_PRIVATE file MR: GUP with FOLL_WRITE breaks COW on every
   * page, so the MR pins anonymous copies of the file's pages (their bytes
   * now, holes as zeros). Truncate and writeback never see them.
   */
  private regPrivateCow(r: FileMrRequest, ino: number, access: number, from: string): RemoteMr {
    const { mem, registry, nextId } = this.deps
    const ps = mem.phys.pageSize
    // Bounds as GUP has them (EFAULT past EOF); holes stay holes in the file.
    mem.fs.mapRange(ino, r.offset, r.length)
    const first = Math.floor(r.offset / ps)
    const frames = mem.allocAnon(Math.ceil((r.offset + r.length) / ps) - first)
    const size = mem.fs.stat(ino).size
    frames.forEach((f, i) => {
      const at = (first + i) * ps
      if (at < size) mem.phys.frameView(f).set(mem.fs.read(ino, at, Math.min(ps, size - at)))
    })
    const pinOwner = `${from}/mr${nextId()}`
    const pinned = this.pinAnon(frames, access, pinOwner)
    const frameMem = new FrameMemory(mem, { frames, offset: r.offset % ps, length: r.length, expectedIno: OWNER_ANON })
    return registry.add(r.pd, frameMem, access, { kind: 'file', pinOwner, pinned, write: true, anonFrames: frames, peer: from, file: r.file }, r.iova)
  }

  /** Long-term pin freshly allocated anonymous frames; on a refusal they are freed again. */
  private pinAnon(frames: number[], access: number, pinOwner: string): number[] {
    try {
      return this.deps.registry.pinFrames(frames, access, pinOwner).pinned
    } catch (err) {
      this.deps.mem.freeAnon(frames)
      throw err
    }
  }

  /** An anonymous MR of `length` bytes of RAM-arena pages for node `from` (verbs.mr.reg). */
  regAnon(pd: number, length: number, access: number, iova: number | undefined, from: string): RemoteMr {
    const { mem, registry, odp, nextId } = this.deps
    if (length > Params.maxMessageSize) throw new EmuError(ErrorCodes.EINVAL, `bad MR length ${length}`)
    checkAccessFlags(access)
    const frames = mem.allocAnon(Math.ceil(length / mem.phys.pageSize))
    const pinOwner = `${from}/mr${nextId()}`
    const write = (access & WRITE_ACCESS) !== 0
    if (access & Access.ON_DEMAND) {
      let o: OdpMr
      try {
        o = odp.anonMemory(frames, length, access)
      } catch (err) {
        mem.freeAnon(frames)
        throw err
      }
      return registry.add(pd, o.mem, access, { kind: 'anon', pinOwner, pinned: [], write, anonFrames: frames, peer: from, odp: o }, iova)
    }
    const pinned = this.pinAnon(frames, access, pinOwner)
    const frameMem = new FrameMemory(mem, { frames, offset: 0, length, expectedIno: OWNER_ANON })
    return registry.add(pd, frameMem, access, { kind: 'anon', pinOwner, pinned, write, anonFrames: frames, peer: from }, iova)
  }
}
