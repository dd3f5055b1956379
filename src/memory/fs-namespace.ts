/**
 * Inodes and the directory. An inode maps page index -> device block (a
 * per-page block map; extentsOf() shows it as runs). Inode numbers are never
 * reused, so an MR's expected inode is never confused with a later file.
 */
import { EmuError, ErrorCodes } from '../errors.ts'

export interface Page {
  block: number
  /** Page-cache RAM frame, -1 when not cached (always -1 for DAX files). */
  cache: number
}

export interface Inode {
  ino: number
  name: string | null
  size: number
  dax: boolean
  pages: Map<number, Page>
  nlink: number
  opens: number
  retained: Page[]
  /** Serialises truncate/punch/unlink on one inode. */
  layoutChain: Promise<void>
  layoutPending: number
}

export interface Extent {
  page: number
  block: number
  len: number
}

/** The block map as runs of consecutive pages on consecutive blocks. */
export function extentsOf(inode: Inode): Extent[] {
  const keys = [...inode.pages.keys()].sort((a, b) => a - b)
  const out: Extent[] = []
  for (const k of keys) {
    const b = inode.pages.get(k)!.block
    const last = out[out.length - 1]
    if (last && last.page + last.len === k && last.block + last.len === b) last.len++
    else out.push({ page: k, block: b, len: 1 })
  }
  return out
}

/** EINVAL unless off and len are non-negative safe integers. */
export function checkRange(off: number, len: number): void {
  if (!Number.isSafeInteger(off) || off < 0 || !Number.isSafeInteger(len) || len < 0) {
    throw new EmuError(ErrorCodes.EINVAL, `bad offset/length ${off}/${len}`)
  }
}

export class Namespace {
  private readonly inodes = new Map<number, Inode>()
  private readonly names = new Map<string, number>()
  /** Next inode number; committed with the metadata so numbers stay unique across restarts. */
  nextIno = 1

  /** A new, empty inode under `name` (EINVAL for a bad name, EEXIST if taken). */
  create(name: string, dax: boolean): Inode {
    if (typeof name !== 'string' || name.length === 0 || name.includes('/')) {
      throw new EmuError(ErrorCodes.EINVAL, `bad file name ${JSON.stringify(name)}`)
    }
    if (this.names.has(name)) throw new EmuError(ErrorCodes.EEXIST, `${name} exists`)
    return this.add(this.nextIno++, name, dax)
  }

  /** Enter an inode with a known number (loading committed metadata). */
  add(ino: number, name: string, dax: boolean): Inode {
    const inode: Inode = { ino, name, size: 0, dax, pages: new Map(), nlink: 1, opens: 0, retained: [], layoutChain: Promise.resolve(), layoutPending: 0 }
    this.inodes.set(inode.ino, inode)
    this.names.set(name, inode.ino)
    return inode
  }

  get(ino: number): Inode {
    const i = this.inodes.get(ino)
    if (!i) throw new EmuError(ErrorCodes.ENOENT, `no inode ${ino}`)
    return i
  }

  has(ino: number): boolean {
    return this.inodes.has(ino)
  }

  lookup(name: string): number {
    const ino = this.names.get(name)
    if (ino === undefined) throw new EmuError(ErrorCodes.ENOENT, `${name} not found`)
    return ino
  }

  /** Remove the name; the inode lives on until forget(). */
  unname(name: string): void {
    this.names.delete(name)
  }

  forget(ino: number): void {
    this.inodes.delete(ino)
  }

  list(): string[] {
    return [...this.names.keys()].sort()
  }

  /** Number of names (files reachable by name). */
  files(): number {
    return this.names.size
  }

  /** Every inode, named or not, in creation order. */
  all(): IterableIterator<Inode> {
    return this.inodes.values()
  }
}
