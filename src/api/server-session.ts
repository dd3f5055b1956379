/**
 * A server node's services as another host uses them (host.server(id)): the
 * server's memory registered for this host's RDMA (anonymous server memory,
 * or a range of one of its files: "an STag for storage"), CM listeners on the
 * server whose QPs land in a server PD, layout leases, its files and its
 * counters. Everything asked for belongs to this host: the server releases
 * it (MRs, their pins, leases, QPs) when this host leaves the fabric.
 */
import type { ControlPlane } from '../../fabric/control-plane.ts'
import type { FileMapping, MemStatsReply, RemoteMr } from '../../fabric/node-message-types.ts'
import type { QpCap } from '../verbs/qp.ts'
import { remoteFileSystem, type FileSystemApi } from './file-system.ts'

export type { FileMapping, MemStatsReply }

/**
 * A region of a server's memory this host registered there: what the peer's
 * RDMA addresses (rkey, addr) and how to give it back.
 */
export class ServerMr {
  /** The STag (rkey for this host's WRs). */
  readonly rkey: number
  /** The IOVA of byte 0: WRs address addr + offset. */
  readonly addr: number
  readonly length: number
  readonly access: number
  /** The server PD it is in. */
  readonly pd: number
  private readonly session: ServerSession

  constructor(session: ServerSession, mr: RemoteMr) {
    this.session = session
    this.rkey = mr.stag
    this.addr = mr.iova
    this.length = mr.length
    this.access = mr.access
    this.pd = mr.pd
  }

  /** Same as rkey (lkey == rkey == STag). */
  get stag(): number {
    return this.rkey
  }

  /** ibv_dereg_mr on the server: the STag stops resolving and its pins drop. */
  dereg(): Promise<void> {
    return this.session.deregMr(this.rkey)
  }
}

/** rdma_listen on the server: accepted QPs go into `pd` (a server PD from allocPd). */
export interface ServerListenOptions {
  pd: number
  cqDepth?: number
  cap?: Partial<QpCap>
  qpAccessFlags?: number
}

/**
 * A server node's services as this host uses them (`host.server(id)`): server
 * memory and file ranges registered for RDMA (ibv_alloc_pd / ibv_reg_mr on the
 * server, the file MR of "an STag for storage"), CM listeners whose QPs land in a
 * server PD, the server's files and its counters. What this host registers is
 * its own: the server releases it when this host leaves the fabric.
 */
export class ServerSession {
  /** The server's node id. */
  readonly node: string
  /** Its files (the `fs.*` commands, as this host). */
  readonly fs: FileSystemApi
  private readonly control: ControlPlane
  private readonly timeoutMs?: number

  constructor(control: ControlPlane, node: string, timeoutMs?: number) {
    this.control = control
    this.node = node
    this.timeoutMs = timeoutMs
    this.fs = remoteFileSystem(control, node, timeoutMs)
  }

  /** ibv_alloc_pd on the server: a server PD number, for listen() and the registrations. */
  async allocPd(): Promise<number> {
    return (await this.control.request(this.node, 'verbs.pd.alloc', undefined, this.timeoutMs)).pd
  }

  /** ibv_dealloc_pd on the server. */
  async deallocPd(pd: number): Promise<void> {
    await this.control.request(this.node, 'verbs.pd.dealloc', { pd }, this.timeoutMs)
  }

  /** ibv_reg_mr of `length` bytes of the server's anonymous memory (pinned RAM pages) in server PD `pd`. */
  async regMr(pd: number, length: number, access: number, iova?: number): Promise<ServerMr> {
    return new ServerMr(this, await this.control.request(this.node, 'verbs.mr.reg', { pd, length, access, iova }, this.timeoutMs))
  }

  /**
   * ibv_reg_mr over [offset, offset + length) of the server's file `file`
   * (file-backed memory, long-term pinned as the server's pin policy allows:
   * upstream refuses a DAX file with EOPNOTSUPP, layout-lease needs this host
   * to hold the file's layout lease, odp registers it ON_DEMAND ...).
   *
   * `mapping` says which mmap(2) of the file the MR stands for, as a process
   * registering a mapped file would have it:
   * - 'shared' (MAP_SHARED, the default): the NIC reads and writes the file's
   *   own pages. Under policy upstream a writable registration of a
   *   page-cached file (created with `dax: false`) is refused with EFAULT, as
   *   mm/gup.c refuses FOLL_LONGTERM | FOLL_WRITE where the mapping needs dirty
   *   tracking (vma_needs_dirty_tracking).
   * - 'private' (MAP_PRIVATE): a writable registration breaks copy-on-write
   *   first, so the MR pins anonymous copies of the file's pages: READs see the
   *   file's bytes as they were at registration, WRITEs never reach the file,
   *   and truncate or writeback do not touch the pinned copies. Allowed under
   *   upstream for a page-cached file; a DAX file is still EOPNOTSUPP.
   */
  async regFile(pd: number, file: string, o: { offset?: number; length: number; access: number; iova?: number; mapping?: FileMapping }): Promise<ServerMr> {
    const reg = { pd, file, offset: o.offset ?? 0, length: o.length, access: o.access, iova: o.iova, ...(o.mapping !== undefined ? { mapping: o.mapping } : {}) }
    return new ServerMr(this, await this.control.request(this.node, 'verbs.mr.regFile', reg, this.timeoutMs))
  }

  /** ibv_dereg_mr of one of this host's MRs on the server. */
  async deregMr(stag: number): Promise<void> {
    await this.control.request(this.node, 'verbs.mr.dereg', { stag }, this.timeoutMs)
  }

  /** Read `length` bytes at `offset` of a server MR (the server's CPU reading its own memory). */
  async readMr(mr: ServerMr | number, offset: number, length: number): Promise<Uint8Array> {
    const stag = typeof mr === 'number' ? mr : mr.rkey
    return new Uint8Array(await this.control.request(this.node, 'verbs.mem.read', { stag, offset, length }, this.timeoutMs))
  }

  /** Write `data` at `offset` of a server MR (the server's CPU writing its own memory). */
  async writeMr(mr: ServerMr | number, offset: number, data: Uint8Array): Promise<void> {
    const stag = typeof mr === 'number' ? mr : mr.rkey
    await this.control.request(this.node, 'verbs.mem.write', { stag, offset, data }, this.timeoutMs)
  }

  /** rdma_listen on the server's port `port`: this host (or any) can then cm.connect(server, port). */
  async listen(port: number, o: ServerListenOptions): Promise<void> {
    await this.control.request(this.node, 'verbs.listen', { port, ...o }, this.timeoutMs)
  }

  async unlisten(port: number): Promise<void> {
    await this.control.request(this.node, 'verbs.unlisten', { port }, this.timeoutMs)
  }

  /** The server's counters (what `rdma-emu stats` shows: pins, oracle, policy, file system, DAX, ODP). */
  stats(): Promise<MemStatsReply> {
    return this.control.request(this.node, 'mem.stats', undefined, this.timeoutMs)
  }
}
