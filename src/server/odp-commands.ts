/**
 * Control commands on ODP MRs: ibv_advise_mr prefetch (`verbs.mr.advise`),
 * inspection (`mem.odpQuery`) and dropping pages as the kernel may at any
 * time (`mem.odpInvalidate`).
 */
import type { Logger } from 'pino'
import { EmuError, ErrorCodes } from '../errors.ts'
import { OdpStatus, type OdpQuery, type ServerMemory } from '../memory/index.ts'
import { MrState } from '../memory/stag.ts'
import type { OdpEntry } from './mr-registry.ts'
import type { ServerControl } from './server-context.ts'
import type { Caller } from '../../fabric/control-auth.ts'

/** ibv_advise_mr advice (enum ibv_advise_mr_advice) and flags. */
export const AdviseMr = {
  PREFETCH: 0,
  PREFETCH_WRITE: 1,
  PREFETCH_NO_FAULT: 2,
  /** IB_UVERBS_ADVISE_MR_FLAG_FLUSH: return once the pages are mapped. */
  FLAG_FLUSH: 1,
} as const

/** How mem.odpInvalidate drops pages. */
export type OdpDropHow = 'unmap' | 'migrate' | 'dontneed'

export function attachOdpCommands(control: ServerControl, deps: { mem: ServerMemory; log: Logger; odpEntry: (stag: number) => OdpEntry }): void {
  const { mem, log } = deps
  // Commands on an MR by STag: only its owner, the launcher or an admin key (fabric/control-auth.ts).
  const entry = (stag: number, caller: Caller | undefined, type: string): OdpEntry => {
    const e = deps.odpEntry(stag)
    control.auth?.mrAccess(caller, e.mr.owner, type, stag)
    return e
  }
  const h: ServerControl['handle'] = (type, fn) => control.handle(type, fn)
  // ibv_advise_mr: PREFETCH / PREFETCH_WRITE fault the ranges in (major faults
  // included), PREFETCH_NO_FAULT maps only what is already present. With
  // FLAG_FLUSH the reply comes once the pages are mapped; without it at once,
  // the mapping goes on in the background.
  h('verbs.mr.advise', (b, _from, caller) => {
    const e = entry(b.stag, caller, 'verbs.mr.advise')
    const advice = b.advice
    const flags = b.flags ?? 0
    if (advice > AdviseMr.PREFETCH_NO_FAULT) throw new EmuError(ErrorCodes.EINVAL, `unknown advice ${advice}`)
    if (flags & ~AdviseMr.FLAG_FLUSH) throw new EmuError(ErrorCodes.EINVAL, `invalid advise flags 0x${flags.toString(16)}`)
    const fm = e.odp.mem
    if (advice === AdviseMr.PREFETCH_WRITE && !e.odp.region.writable) throw new EmuError(ErrorCodes.EFAULT, 'PREFETCH_WRITE on an MR without write access')
    const sges = b.sgList ?? [{ offset: b.offset ?? 0, length: b.length ?? fm.length - (b.offset ?? 0) }]
    const spans: Array<[number, number]> = []
    for (const sge of sges) {
      const off = sge?.offset
      const len = sge?.length
      if (off + len > fm.length) throw new EmuError(ErrorCodes.EFAULT, `range ${off}+${len} outside the MR (${fm.length} bytes)`)
      if (len > 0) spans.push(fm.pageSpan(off, len))
    }
    const noFault = advice === AdviseMr.PREFETCH_NO_FAULT
    const run = (): number => {
      let pages = 0
      for (const [first, last] of spans) {
        if (e.mr.state === MrState.FREE) break
        const r = e.odp.region.prefetch(first, last, noFault)
        pages += r.mapped
        if (r.status !== OdpStatus.OK) throw new EmuError(ErrorCodes.EFAULT, `prefetch of pages ${first}..${last}: no page there (past EOF?)`)
      }
      return pages
    }
    if (flags & AdviseMr.FLAG_FLUSH) return { pages: run(), async: false }
    setImmediate(() => {
      try {
        run()
      } catch (err) {
        log.debug({ err, stag: e.mr.stag }, 'async prefetch failed')
      }
    })
    return { pages: 0, async: true }
  })

  h('mem.odpQuery', (b, _from, caller): OdpQuery & { kind: string; file?: string } => {
    const e = entry(b.stag, caller, 'mem.odpQuery')
    return { ...e.odp.region.query(), kind: e.kind, file: e.file }
  })

  // Drop the pages of an ODP MR, as the kernel may at any time (the pyverbs ODP
  // tests drop them every iteration). 'unmap': only the MR's mapping goes (an
  // mmu notifier event that keeps the pages: mprotect, page_mkclean ...).
  // 'migrate' (default): the pages move to new frames with their contents
  // (migration, compaction, swap-out and back); the old frames are freed, so a
  // stale mapping would show in the oracle. 'dontneed': madvise(MADV_DONTNEED):
  // anonymous pages come back zero-filled; a file's pages come back from the
  // file (through a major fault). A file MR's 'migrate' is a 'dontneed'.
  h('mem.odpInvalidate', (b, _from, caller) => {
    const e = entry(b.stag, caller, 'mem.odpInvalidate')
    const fm = e.odp.mem
    const region = e.odp.region
    const offset = b.offset ?? 0
    const length = b.length ?? Math.max(0, fm.length - offset)
    const how = b.how ?? 'migrate'
    if (how !== 'unmap' && how !== 'migrate' && how !== 'dontneed') throw new EmuError(ErrorCodes.EINVAL, `how must be "unmap", "migrate" or "dontneed", got ${JSON.stringify(how)}`)
    if (offset + length > fm.length) throw new EmuError(ErrorCodes.EINVAL, `range ${offset}+${length} outside the MR (${fm.length} bytes)`)
    if (length === 0) return { pages: 0, seq: region.query().seq }
    const [first, last] = fm.pageSpan(offset, length)
    let pages: number
    if (how === 'unmap') {
      pages = region.invalidate(first, last + 1)
    } else if (e.kind === 'file') {
      pages = region.invalidate(first, last + 1, { clearBacking: true })
    } else if (how === 'dontneed') {
      pages = region.invalidate(first, last + 1, { during: () => { for (let pi = first; pi <= last; pi++) mem.phys.frameView(region.backing[pi]!).fill(0) } })
    } else {
      // Runs with the sequence odd: nothing can map the MR while its pages move.
      pages = region.invalidate(first, last + 1, {
        during: () => {
          const old = Array.from(region.backing.subarray(first, last + 1))
          const fresh = mem.allocAnon(old.length)
          for (let i = 0; i < old.length; i++) {
            mem.phys.frameView(fresh[i]!).set(mem.phys.frameView(old[i]!))
            Atomics.store(region.backing, first + i, fresh[i]!)
          }
          // All new frames first, then the old ones go: a stale write lands in a free frame.
          mem.freeAnon(old)
        },
      })
    }
    return { pages, seq: region.query().seq }
  })
}
