/**
 * The server's on-demand paging binding: how ODP MRs (Access.ON_DEMAND;
 * src/memory/odp.ts) meet the filesystem.
 *
 * ODP MRs take no pins and map nothing at registration: each page is faulted
 * in on first access, in the data path. An anonymous ODP MR has its RAM frames
 * from the start (its CPU page table is full), so its faults are minor and run
 * wherever the access runs, worker threads included. A file ODP MR's CPU page
 * table is filled by major faults on the main thread (`fileFault`: the
 * filesystem's block map, a hole allocated as a write fault would, past EOF an
 * access error). The filesystem's MMU notifier invalidates every ODP MR over
 * the affected pages before truncate, punch, unlink, drop_caches free a frame
 * (or writeback cleans one), so an ODP MR never touches a block the file no
 * longer owns.
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
import type { Logger } from 'pino'
import { OdpRegion, OdpStatus, OWNER_ANON, type MajorFault, type ServerMemory } from '../memory/index.ts'
import { FrameMemory } from '../memory/frame-memory.ts'
import { WRITE_ACCESS, type MrRegistry, type OdpMr } from './mr-registry.ts'

export class OdpBinding {
  private readonly ps: number

  constructor(private readonly mem: ServerMemory, registry: MrRegistry, private readonly log: Logger) {
    this.ps = mem.phys.pageSize
    /**
     * The MMU notifier: the filesystem is about to free (or clean) the frames of
     * file pages [start, end). Every ODP MR over them unmaps them and waits out
     * accesses in flight, synchronously, before the filesystem goes on.
     */
    mem.fs.setMmuNotifier((ino, start, end, event) => {
      for (const e of registry.odpOver(ino)) {
        const o = e.odp!
        // Writeback only write-protects: read-only mappings need nothing.
        if (event === 'mkclean' && !o.region.writable) continue
        const first = start - o.firstFilePage
        const last = end - o.firstFilePage
        if (last <= 0 || first >= o.region.pages) continue
        o.region.invalidate(first, last, { clearBacking: event !== 'mkclean' })
      }
    })
  }

  /**
   * A file ODP MR over [offset, offset + length) of inode `ino`: no pins,
   * nothing mapped, no EOF check; pages fault in on access (and a range past
   * EOF becomes usable when the file grows).
   */
  fileMemory(ino: number, offset: number, length: number, access: number): OdpMr {
    const ps = this.ps
    const pages = length === 0 ? 0 : Math.ceil(((offset % ps) + length) / ps)
    const mem = new FrameMemory(this.mem, { frames: new Array<number>(pages).fill(-1), offset: offset % ps, length, expectedIno: ino, odp: this.desc(pages, undefined, access) })
    const region = mem.odp!
    const firstFilePage = Math.floor(offset / ps)
    region.majorFault = this.fileFault(ino, firstFilePage, region)
    return { mem, region, ino, firstFilePage }
  }

  /**
   * An anonymous ODP MR over `frames`: they are the process's anonymous memory
   * (its CPU page table is full); the MR maps nothing until an access or a
   * prefetch faults it in.
   */
  anonMemory(frames: number[], length: number, access: number): OdpMr {
    const mem = new FrameMemory(this.mem, { frames: new Array<number>(frames.length).fill(-1), offset: 0, length, expectedIno: OWNER_ANON, odp: this.desc(frames.length, frames, access) })
    const region = mem.odp!
    // Never needed: anonymous pages are always in the CPU page table.
    region.majorFault = () => OdpStatus.ACCESS_ERROR
    return { mem, region, ino: OWNER_ANON, firstFilePage: 0 }
  }

  /** The shared descriptor of a fresh ODP region (writable if the MR may be written). */
  private desc(pages: number, backing: number[] | undefined, access: number) {
    return OdpRegion.createDesc(pages, backing, (access & WRITE_ACCESS) !== 0, this.mem.odpCounters)
  }

  /**
   * Major fault of a file ODP MR (main thread): fill the CPU page table of
   * region pages [first, last] from the file's block map, as hmm_range_fault()
   * through the filesystem's fault handler. A writable MR faults for write
   * (HMM_PFN_REQ_WRITE), so a hole gets a block; the emulator has no shared
   * zero page, so a read-only MR's hole gets one too. A page at or past EOF is
   * an access error (SIGBUS); so is a file that is gone, or a full device.
   */
  private fileFault(ino: number, firstFilePage: number, region: OdpRegion): MajorFault {
    const { fs } = this.mem
    const ps = this.ps
    return (first, last) => {
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
        this.log.debug({ err, ino }, 'ODP major fault failed')
        return OdpStatus.ACCESS_ERROR
      } finally {
        // MAP_SYNC analogue: a block handed to DMA is in the durable block map first.
        if (allocated && dax) {
          try {
            fs.fsync(ino)
          } catch (err) {
            this.log.error({ err, ino }, 'ODP fault: block map commit failed')
          }
        }
      }
      return OdpStatus.OK
    }
  }
}
