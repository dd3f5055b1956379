/**
 * The server host's files by name, as a process on that machine sees them:
 * create, write, read, truncate, punch, fallocate, fsync, unlink, stat,
 * extents, list, and the layout lease (F_SETLEASE(F_LAYOUT) / F_UNLCK). The
 * `fs.*` control commands (src/server/fs-commands.ts, src/server/lease-commands.ts)
 * and a program on the server node (host.fs) both go through it, so a
 * truncate is the same truncate whoever asks: the pin policy's layout guard
 * decides what it does to pinned pages.
 */
import { EmuError, ErrorCodes } from '../errors.ts'
import { FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, type Extent, type FileSystem, type FsyncResult, type LayoutPolicy, type Stat } from '../memory/index.ts'
import type { LeaseBreakNotice, LeaseGrant } from '../../fabric/node-message-types.ts'
import type { LeaseRevocation } from './lease-revocation.ts'
import type { MrRegistry } from './mr-registry.ts'

export interface ServerFsDeps {
  fs: FileSystem
  policy: LayoutPolicy
  revocation: LeaseRevocation
  registry: MrRegistry
  /** This server's node id: the holder of leases its own programs take. */
  self: string
}

/** How a truncate or punch that waits may be interrupted (EINTR). */
export interface InterruptibleOptions {
  /** Give up after this many ms. */
  waitMs?: number
  signal?: AbortSignal
}

export class ServerFs {
  private readonly fs: FileSystem
  private readonly deps: ServerFsDeps
  /** Truncates / punches in progress, by file name (fs.interrupt). */
  private readonly waiting = new Map<string, Set<AbortController>>()
  /** Lease-break callbacks of leases this server's own programs hold, by file name. */
  private readonly localBreaks = new Map<string, (notice: LeaseBreakNotice) => void>()

  constructor(deps: ServerFsDeps) {
    this.deps = deps
    this.fs = deps.fs
    // A lease held here (by a program on this node) is broken by a call, not a fabric notice.
    deps.revocation.onLocalBreak = (notice) => this.localBreaks.get(notice.file)?.(notice)
  }

  create(name: string, opts: { dax?: boolean } = {}): number {
    return this.fs.create(name, { dax: opts.dax === true })
  }

  write(name: string, offset: number, data: Uint8Array): number {
    return this.fs.write(this.fs.lookup(name), offset, data)
  }

  read(name: string, offset: number, length: number): Uint8Array {
    return this.fs.read(this.fs.lookup(name), offset, length)
  }

  /**
   * truncate(2). A wait (busy DAX pages, a lease break) is interruptible, as
   * the kernel's TASK_INTERRUPTIBLE wait: after `o.waitMs`, on `o.signal`, or
   * by interrupt(name); it then fails with EINTR and nothing changed.
   */
  truncate(name: string, size: number, o: InterruptibleOptions = {}): Promise<void> {
    const ino = this.fs.lookup(name)
    return this.interruptible(name, o, (signal) => this.fs.truncate(ino, size, { signal }))
  }

  /** fallocate(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE), interruptible as truncate. */
  punch(name: string, offset: number, length: number, o: InterruptibleOptions = {}): Promise<void> {
    const ino = this.fs.lookup(name)
    return this.interruptible(name, o, (signal) => this.fs.fallocate(ino, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, length, { signal }))
  }

  /** Interrupt every truncate / punch of `name` in progress (they fail EINTR if waiting). Returns how many. */
  interrupt(name: string): number {
    const set = this.waiting.get(name)
    if (!set) return 0
    for (const c of set) c.abort()
    return set.size
  }

  private async interruptible(name: string, o: InterruptibleOptions, run: (signal: AbortSignal) => Promise<void>): Promise<void> {
    const c = new AbortController()
    const abort = (): void => c.abort()
    o.signal?.addEventListener('abort', abort, { once: true })
    if (o.signal?.aborted) c.abort()
    const timer = o.waitMs !== undefined ? setTimeout(abort, o.waitMs) : undefined
    let set = this.waiting.get(name)
    if (!set) this.waiting.set(name, (set = new Set()))
    set.add(c)
    try {
      await run(c.signal)
    } finally {
      clearTimeout(timer)
      o.signal?.removeEventListener('abort', abort)
      set.delete(c)
      if (set.size === 0) this.waiting.delete(name)
    }
  }

  fallocate(name: string, mode: number, offset: number, length: number): Promise<void> {
    return this.fs.fallocate(this.fs.lookup(name), mode, offset, length)
  }

  fsync(name: string): FsyncResult {
    return this.fs.fsync(this.fs.lookup(name))
  }

  /** A lease the unlink did not have to break (no blocks) goes with the file. */
  async unlink(name: string): Promise<void> {
    const ino = this.fs.lookup(name)
    await this.fs.unlink(name)
    this.deps.revocation.leases.end(ino, 'file-gone')
    this.localBreaks.delete(name)
  }

  stat(name: string): Stat {
    return this.fs.stat(this.fs.lookup(name))
  }

  extents(name: string): Extent[] {
    return this.fs.extents(this.fs.lookup(name))
  }

  list(): string[] {
    return this.fs.list()
  }

  /**
   * F_SETLEASE(F_LAYOUT): the exclusive layout lease on `name`, held by
   * `holder` (default: this server, for its own programs, whose `onBreak` is
   * called where a remote holder would get a `lease.break` notice).
   */
  lease(name: string, holder: string = this.deps.self, onBreak?: (notice: LeaseBreakNotice) => void): LeaseGrant {
    const ino = this.fs.lookup(name)
    const { policy, revocation } = this.deps
    if (!policy.needsLease) throw new EmuError(ErrorCodes.EOPNOTSUPP, `layout leases need policy layout-lease or exclusive-lease (this server: ${policy.name})`)
    const l = revocation.leases.acquire(ino, name, holder)
    if (holder === this.deps.self && onBreak) this.localBreaks.set(name, onBreak)
    return { file: name, holder: l.holder, breakTimeMs: revocation.leases.breakTimeMs }
  }

  /**
   * F_SETLEASE(F_UNLCK). Found by name even after an unlink took the name
   * (the holder answering a break caused by that unlink).
   */
  unlease(name: string, holder: string = this.deps.self): void {
    const { leases } = this.deps.revocation
    let ino: number | undefined
    try {
      ino = this.fs.lookup(name)
    } catch {
      // Gone from the namespace: maybe unlinked under a lease.
    }
    const l = (ino !== undefined ? leases.get(ino) : undefined) ?? leases.byFile(name)
    if (!l) {
      if (ino === undefined) throw new EmuError(ErrorCodes.ENOENT, `${name} not found`)
      throw new EmuError(ErrorCodes.EINVAL, `${name} has no layout lease`)
    }
    leases.release(l.ino, name, holder, this.deps.registry.leaseMrs(l.ino, holder).length)
    if (holder === this.deps.self) this.localBreaks.delete(name)
  }
}
