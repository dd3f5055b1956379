import type { Logger } from 'pino'
import { EmuError, ErrorCodes } from '../errors.ts'
import type { ControlPlane } from '../../fabric/control-plane.ts'
import { Params } from '../params.ts'
import { QpState } from './constants.ts'
import type { LeaseBreakNotice, LeaseMode, LeaseNoticeRecord, LeaseRevocationRecord, LeaseStatus } from '../../fabric/node-message-types.ts'
import type { RdmaDevice } from './device.ts'
import type { Qp } from './qp.ts'

/**
 * A host's side of layout leases (policy layout-lease on a server, seeds
 * 001-003): what the application holding the lease does on the SIGIO of a
 * lease break. The server sends the holder a one-way `lease.break`
 * notice {server, file, stags, deadlineMs, op}; by default ('comply') the host:
 *
 * 1. stops posting WRs that target those STags (remote `qp.postSend` is
 *    refused with EACCES) and stops every running `verbs.workload` whose rkey
 *    is one of them (early stop: it drains what it has outstanding);
 * 2. waits until no QP to that server has an outstanding WR on them;
 * 3. deregisters the MRs on the server (`verbs.mr.dereg`) and releases the
 *    lease (`fs.unlease`), as seed 002's handler: complete_rdma_operations,
 *    ibv_dereg_mr, F_UNLCK.
 *
 * 'ignore' models a holder that does not handle the signal: nothing is done,
 * and the server revokes the lease once its break time runs out
 * (`lease.revoked`, recorded here). `verbs.lease.mode` switches.
 */
export type { LeaseBreakNotice, LeaseMode, LeaseNoticeRecord, LeaseRevocationRecord, LeaseStatus }

export interface RunningWorkload {
  qp: Qp
  rkey: number
  stop(reason: string): void
  done: Promise<unknown>
}

export interface LeaseAgentDeps {
  device: RdmaDevice
  control: ControlPlane
  workloads: () => Iterable<RunningWorkload>
  log?: Logger
}

export class LeaseAgent {
  mode: LeaseMode = 'comply'
  readonly notices: LeaseNoticeRecord[] = []
  readonly revocations: LeaseRevocationRecord[] = []
  /** STags given back (or being given back), per server: no new WR may target them. */
  private readonly fenced = new Map<string, Set<number>>()
  private readonly deps: LeaseAgentDeps

  constructor(deps: LeaseAgentDeps) {
    this.deps = deps
    deps.control.handle('lease.break', (body: unknown, from: string) => this.onBreak(body, from))
    deps.control.handle('lease.revoked', (body: unknown, from: string) => this.onRevoked(body, from))
  }

  setMode(mode: unknown): LeaseMode {
    if (mode !== 'comply' && mode !== 'ignore') throw new EmuError(ErrorCodes.EINVAL, `lease mode must be "comply" or "ignore", got ${JSON.stringify(mode)}`)
    this.mode = mode
    return mode
  }

  /** May a WR to `server` target `rkey`? */
  isFenced(server: string, rkey: number | undefined): boolean {
    return rkey !== undefined && this.fenced.get(server)?.has(rkey >>> 0) === true
  }

  /** Throw EACCES when a WR of `qp` targets a fenced STag. */
  checkPost(qp: Qp, wrs: ReadonlyArray<{ rkey?: number }>): void {
    for (const w of wrs) {
      if (this.isFenced(qp.attr.destNode, w.rkey)) {
        throw new EmuError(ErrorCodes.EACCES, `rkey 0x${(w.rkey! >>> 0).toString(16)} of ${qp.attr.destNode} is being given back (layout lease broken): no new work on it`)
      }
    }
  }

  status(): LeaseStatus {
    const fenced: Record<string, number[]> = {}
    for (const [s, set] of this.fenced) fenced[s] = [...set]
    return { mode: this.mode, notices: this.notices, revocations: this.revocations, fenced }
  }

  private onBreak(body: unknown, from: string): void {
    const b = body as Partial<LeaseBreakNotice> | null
    if (!b || typeof b.file !== 'string' || !Array.isArray(b.stags) || typeof b.deadlineMs !== 'number') {
      this.deps.log?.warn({ from }, 'malformed lease.break notice dropped')
      return
    }
    const rec: LeaseNoticeRecord = {
      server: from, file: b.file, stags: b.stags.filter((x) => typeof x === 'number').map((x) => x >>> 0), deadlineMs: b.deadlineMs, op: b.op,
      receivedAt: Date.now(), mode: this.mode, state: this.mode === 'ignore' ? 'ignored' : 'complying', workloadsStopped: 0, qpsDrained: 0, mrsDeregistered: 0,
    }
    this.notices.push(rec)
    this.deps.log?.info({ from, file: rec.file, stags: rec.stags, mode: this.mode }, 'lease break notice')
    if (this.mode === 'ignore') return
    void this.comply(rec).catch((err: Error) => {
      rec.state = 'failed'
      rec.error = err.message
      this.deps.log?.warn({ err, file: rec.file }, 'lease break: could not comply')
    })
  }

  private async comply(rec: LeaseNoticeRecord): Promise<void> {
    const { control } = this.deps
    const server = rec.server
    const stags = new Set(rec.stags)
    let fence = this.fenced.get(server)
    if (!fence) this.fenced.set(server, (fence = new Set()))
    for (const s of stags) fence.add(s)
    // 1. Running workloads on these MRs stop posting and drain.
    const stopping: Array<Promise<unknown>> = []
    for (const w of this.deps.workloads()) {
      if (w.qp.attr.destNode !== server || !stags.has(w.rkey >>> 0)) continue
      w.stop(`layout lease on ${rec.file} broken`)
      stopping.push(w.done.catch(() => undefined))
      rec.workloadsStopped++
    }
    await Promise.all(stopping)
    // 2. Any other outstanding WR on them completes (or its QP fails), within the time given.
    const until = rec.receivedAt + Math.max(0, rec.deadlineMs - Params.leaseGiveBackMarginMs)
    const busy = (qp: Qp): boolean => {
      if (qp.state === QpState.ERR || qp.state === QpState.RESET) return false
      for (let i = qp.sq.base; i < qp.sq.end; i++) {
        const rkey = qp.sq.at(i)?.wr.rkey
        if (rkey !== undefined && stags.has(rkey >>> 0)) return true
      }
      return false
    }
    const drained = new Set<Qp>()
    for (;;) {
      const waiting = [...this.deps.device.allQps()].filter((qp) => qp.attr.destNode === server && busy(qp))
      for (const qp of waiting) drained.add(qp)
      if (waiting.length === 0 || Date.now() >= until) break
      await new Promise((r) => setTimeout(r, Params.leaseDrainPollMs))
    }
    rec.qpsDrained = drained.size
    // 3. Deregister, then give the lease back.
    for (const stag of stags) {
      try {
        await control.request(server, 'verbs.mr.dereg', { stag })
        rec.mrsDeregistered++
      } catch (err) {
        // Already gone (deregistered meanwhile, or revoked): nothing to give back.
        if ((err as EmuError).code !== ErrorCodes.ENOENT) throw err
      }
    }
    await control.request(server, 'fs.unlease', { file: rec.file })
    rec.state = 'released'
    rec.tookMs = Date.now() - rec.receivedAt
    this.deps.log?.info({ server, file: rec.file, tookMs: rec.tookMs, workloads: rec.workloadsStopped, mrs: rec.mrsDeregistered }, 'lease released after a break')
  }

  private onRevoked(body: unknown, from: string): void {
    const b = body as { file?: unknown; stags?: unknown; qps?: unknown } | null
    if (!b || typeof b.file !== 'string') {
      this.deps.log?.warn({ from }, 'malformed lease.revoked notice dropped')
      return
    }
    const stags = Array.isArray(b.stags) ? b.stags.filter((x): x is number => typeof x === 'number').map((x) => x >>> 0) : []
    // Recorded only: a holder that ignored the break is not fenced here either
    // (what it posts now meets the invalid STag on the wire: REM_ACCESS_ERR).
    this.revocations.push({ server: from, file: b.file, stags, qps: typeof b.qps === 'number' ? b.qps : 0, receivedAt: Date.now() })
    this.deps.log?.warn({ from, file: b.file, stags }, 'layout lease revoked')
  }
}
