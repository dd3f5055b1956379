/**
 * A server host's file system by name, as the public API offers it: locally
 * to a program on the server node (host.fs, calls into the server's own
 * ServerFs), and remotely to any host through the `fs.*` control commands
 * (host.server(id).fs). Both have this one asynchronous shape, and both go
 * through the same code on the server, so the pin policy decides what a
 * truncate or punch over pinned pages does either way.
 */
import type { ControlPlane } from '../../fabric/control-plane.ts'
import type { LeaseBreakNotice, LeaseGrant } from '../../fabric/node-message-types.ts'
import type { Extent, FsyncResult, Stat } from '../memory/index.ts'
import type { ServerFs } from '../server/server-fs.ts'

export type { Extent, FsyncResult, LeaseBreakNotice, LeaseGrant, Stat }

/** The server's files (open(2)-less: by name). Errors are EmuError with the errno's code (ENOENT, ETXTBSY, ENOSPC ...). */
export interface FileSystemApi {
  /**
   * creat(2): a new empty file; `dax` (default false) maps it without a page
   * cache. What a file MR over it may be follows (ServerSession.regFile): under
   * policy upstream a DAX file refuses any long-term pin (EOPNOTSUPP), a
   * page-cached one refuses a writable shared mapping (EFAULT) but takes a
   * writable `mapping: 'private'` (pinned copy-on-write copies).
   */
  create(name: string, opts?: { dax?: boolean }): Promise<number>
  /** pwrite(2); resolves with the bytes written. */
  write(name: string, offset: number, data: Uint8Array): Promise<number>
  /** pread(2). */
  read(name: string, offset: number, length: number): Promise<Uint8Array>
  /** truncate(2): what happens to pinned pages past the new size is the server's pin policy's call (waits, fails ETXTBSY, frees them ...). */
  truncate(name: string, size: number): Promise<void>
  /** fallocate(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE): free the blocks of a range, same policy rules as truncate. */
  punch(name: string, offset: number, length: number): Promise<void>
  /** fallocate(2) with `mode` (0 extends; FALLOC_FL_PUNCH_HOLE 2 | FALLOC_FL_KEEP_SIZE 1 punches). */
  fallocate(name: string, mode: number, offset: number, length: number): Promise<void>
  /** fsync(2): write back the file's dirty pages. */
  fsync(name: string): Promise<FsyncResult>
  /** unlink(2). */
  unlink(name: string): Promise<void>
  /** stat(2): size, blocks, DAX or page-cached ... */
  stat(name: string): Promise<Stat>
  /** The file's extents (FIEMAP): which device blocks hold which pages. */
  extents(name: string): Promise<Extent[]>
  /** Every file name. */
  list(): Promise<string[]>
  /**
   * fcntl(F_SETLEASE, F_LAYOUT): the exclusive layout lease (policy
   * layout-lease only: EOPNOTSUPP otherwise). Remotely the asking host holds
   * it and gets lease-break notices; locally `onBreak` is called instead.
   */
  lease(name: string, onBreak?: (notice: LeaseBreakNotice) => void): Promise<LeaseGrant>
  /** fcntl(F_SETLEASE, F_UNLCK); EBUSY while MRs registered under it still hold pins. */
  unlease(name: string): Promise<void>
}

/** The server's own files, for a program on the server node. */
export function localFileSystem(fs: ServerFs): FileSystemApi {
  return {
    create: async (name, opts) => fs.create(name, opts),
    write: async (name, offset, data) => fs.write(name, offset, data),
    read: async (name, offset, length) => fs.read(name, offset, length),
    truncate: (name, size) => fs.truncate(name, size),
    punch: (name, offset, length) => fs.punch(name, offset, length),
    fallocate: (name, mode, offset, length) => fs.fallocate(name, mode, offset, length),
    fsync: async (name) => fs.fsync(name),
    unlink: (name) => fs.unlink(name),
    stat: async (name) => fs.stat(name),
    extents: async (name) => fs.extents(name),
    list: async () => fs.list(),
    lease: async (name, onBreak) => fs.lease(name, undefined, onBreak),
    unlease: async (name) => fs.unlease(name),
  }
}

/** Server `node`'s files over the control plane, as this host. */
export function remoteFileSystem(control: ControlPlane, node: string, timeoutMs?: number): FileSystemApi {
  return {
    create: async (name, opts) => (await control.request(node, 'fs.create', { name, dax: opts?.dax === true }, timeoutMs)).ino,
    write: async (name, offset, data) => (await control.request(node, 'fs.write', { name, offset, data }, timeoutMs)).written,
    read: async (name, offset, length) => new Uint8Array(await control.request(node, 'fs.read', { name, offset, length }, timeoutMs)),
    truncate: async (name, size) => void (await control.request(node, 'fs.truncate', { name, size }, timeoutMs)),
    punch: async (name, offset, length) => void (await control.request(node, 'fs.punch', { name, offset, length }, timeoutMs)),
    fallocate: async (name, mode, offset, length) => void (await control.request(node, 'fs.fallocate', { name, mode, offset, length }, timeoutMs)),
    fsync: (name) => control.request(node, 'fs.fsync', { name }, timeoutMs),
    unlink: async (name) => void (await control.request(node, 'fs.unlink', { name }, timeoutMs)),
    stat: (name) => control.request(node, 'fs.stat', { name }, timeoutMs),
    extents: (name) => control.request(node, 'fs.extents', { name }, timeoutMs),
    list: () => control.request(node, 'fs.list', undefined, timeoutMs),
    lease: (name) => control.request(node, 'fs.lease', { file: name }, timeoutMs),
    unlease: async (name) => void (await control.request(node, 'fs.unlease', { file: name }, timeoutMs)),
  }
}
