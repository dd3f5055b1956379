/**
 * Layout leases and their revocation (policy layout-lease).
 *
 * File MRs need the file's exclusive layout lease (fs.lease from the
 * registering node, F_SETLEASE(F_LAYOUT)). A layout change breaks it: the
 * holder gets a `lease.break` notice {server, file, stags, deadlineMs, op} and
 * has `leaseBreakTimeMs` to deregister those MRs and fs.unlease. Then the
 * server revokes:
 *   1. the STags are invalidated (accesses get REM_ACCESS_ERR);
 *   2. DMA in flight on the holder's QPs in those PDs is waited out (quiesce);
 *   3. those QPs go to ERR (a remote-access-error NAK at the next PSN tells
 *      the requester);
 *   4. the pins drop, the holder gets `lease.revoked` (and with
 *      `leaseRevokeKill` a shutdown), and the layout change completes.
 * The MRs leave the registry before they are deregistered, so their pins are
 * kept until step 4 (see MrRegistry.withhold).
 */
import type { Logger } from 'pino'
import { LeaseTable, type Lease, type LeaseStanding } from '../memory/index.ts'
import type { LeaseBreakNotice } from '../../fabric/node-message-types.ts'
import { MrState } from '../memory/stag.ts'
import { respondFault } from '../engine/responder-fault.ts'
import { RespFault } from '../engine/status.ts'
import { QpState } from '../verbs/constants.ts'
import type { RdmaDevice } from '../verbs/device.ts'
import type { Qp } from '../verbs/qp.ts'
import type { MrRegistry } from './mr-registry.ts'
import type { ServerControl } from './server-context.ts'

/** What revocations did (in mem.stats policy.leases). */
export interface RevocationCounters {
  /** MRs invalidated and QPs moved to ERR by revocations. */
  revokedMrs: number
  revokedQps: number
  /** Holders told to shut down after a revocation (leaseRevokeKill). */
  holdersKilled: number
}

export interface LeaseRevocationDeps {
  /** This server's node id (in the notices). */
  server: string
  control: ServerControl
  device: RdmaDevice
  registry: MrRegistry
  log: Logger
  breakTimeMs: number
  /** leaseRevokeKill: ask a revoked holder to shut down. */
  killHolder?: (holder: string) => Promise<unknown>
}

export class LeaseRevocation {
  readonly leases: LeaseTable
  readonly counters: RevocationCounters = { revokedMrs: 0, revokedQps: 0, holdersKilled: 0 }
  /** Told instead of a fabric notice when the holder is this server itself (a program on this node). */
  onLocalBreak?: (notice: LeaseBreakNotice) => void

  constructor(private readonly deps: LeaseRevocationDeps) {
    this.leases = new LeaseTable({ breakTimeMs: deps.breakTimeMs })
  }

  /** Where node `from` stands with the layout lease on `ino`. */
  standing(ino: number, from: string): LeaseStanding {
    const l = this.leases.get(ino)
    if (!l) return 'none'
    if (l.holder !== from) return 'other'
    return l.breaking ? 'breaking' : 'held'
  }

  /** A layout change over a leased file breaks the lease (null: no lease). */
  breakLease(ino: number, op: string): Promise<unknown> | null {
    const { server, control, registry, log } = this.deps
    const { leases } = this
    return leases.breakLease(ino, op, {
      notify: (lease) => {
        const stags = registry.leaseMrs(ino, lease.holder).map((e) => e.mr.stag)
        log.info({ file: lease.file, holder: lease.holder, op, stags, breakTimeMs: leases.breakTimeMs }, 'layout lease break')
        const notice: LeaseBreakNotice = { server, file: lease.file, stags, deadlineMs: leases.breakTimeMs, op }
        if (lease.holder === server) {
          this.onLocalBreak?.(notice)
          return
        }
        try {
          control.notify(lease.holder, 'lease.break', notice)
        } catch (err) {
          // The holder is unreachable: the break runs out and revokes.
          log.warn({ err, holder: lease.holder }, 'lease-break notice not sent')
        }
      },
      expire: (lease) => this.revoke(lease),
    })
  }

  /** The break time ran out: take the lease's MRs away from its holder. */
  private async revoke(lease: Lease): Promise<void> {
    const { server, control, device, registry, log, killHolder } = this.deps
    const mine = registry.leaseMrs(lease.ino, lease.holder)
    const pds = new Set(mine.map((e) => e.mr.pd))
    // 1. Invalidate: the STags stop resolving (remote access error), and
    //    worker batches stop at their next operation (Mr.live). Out of the
    //    registry first, so their deregistration does not drop their pins
    //    before the DMA is over.
    registry.withhold(mine)
    for (const e of mine) if (e.mr.state !== MrState.FREE) device.deregMr(e.mr)
    // 2. Wait out DMA already under way on the holder's QPs that could use them (same PD).
    const qps = [...device.allQps()].filter((q) => q.attr.destNode === lease.holder && pds.has(q.pd))
    await quiesce(device, qps)
    // 3. Those QPs go to ERR.
    let nQps = 0
    for (const qp of qps) if (failQp(qp, `layout lease on ${lease.file} revoked`)) nQps++
    // 4. The pins drop; the layout change waiting for them goes on.
    for (const e of mine) {
      try {
        registry.releaseWithheld(e)
      } catch (err) {
        log.error({ err, stag: e.mr.stag }, 'revocation: pins not released')
      }
    }
    this.counters.revokedMrs += mine.length
    this.counters.revokedQps += nQps
    log.warn({ file: lease.file, holder: lease.holder, mrs: mine.length, qps: nQps, breakTimeMs: this.leases.breakTimeMs }, 'layout lease revoked')
    try {
      control.notify(lease.holder, 'lease.revoked', { server, file: lease.file, stags: mine.map((e) => e.mr.stag), qps: nQps })
    } catch (err) {
      log.debug({ err, holder: lease.holder }, 'lease.revoked notice not sent')
    }
    if (killHolder) {
      // "if unhandled, process gets killed" (seed 001): ask the holder node to shut down.
      killHolder(lease.holder).then(
        () => { this.counters.holdersKilled++ },
        (err) => log.warn({ err, holder: lease.holder }, 'revoked lease holder not shut down'),
      )
    }
  }

  close(): void {
    this.leases.close()
  }
}

/**
 * Let the data path finish what it already accepted for these QPs: the
 * STags are invalid by now, so nothing new starts; a batch already copying
 * finishes before the pins (and so the blocks) may go. A failed batch drops
 * the actions behind it, so a QP already in ERR counts as quiet too.
 */
function quiesce(device: RdmaDevice, qps: Qp[], capMs = 1000): Promise<void> {
  return Promise.all(qps.map((qp) => new Promise<void>((resolve) => {
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
}

/**
 * Move a responder QP to ERR and tell its requester: a remote access error
 * NAK carrying the next PSN it would send. The requester completes what the
 * responder had received, fails its oldest outstanding WR with
 * REM_ACCESS_ERR and goes to ERR, idle or not (an unannounced ERR would
 * leave it retrying into silence). False when the QP was not live (or had
 * already failed).
 */
function failQp(qp: Qp, reason: string): boolean {
  if (qp.state !== QpState.RTR && qp.state !== QpState.RTS && qp.state !== QpState.SQD) return false
  if (qp.resp.failed) return false
  // The data path was waited out (quiesce): the NAK and the state change go now.
  respondFault(qp, qp.resp.epsn, RespFault.REMOTE_ACCESS, reason, { now: true })
  return true
}
