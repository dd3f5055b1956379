/**
 * The server host's domain, composed: the persistent DAX device and its
 * filesystem (ServerMemory in the node's data directory), the MR registry and
 * its pins, the pin policy with its layout leases and their revocation, the
 * ODP binding, short-term pins, statistics, and the control commands over
 * them:
 *
 *   fs.*                 src/server/fs-commands.ts (over ServerFs, src/server/server-fs.ts,
 *                        which a program on this node uses directly)
 *   verbs.mr.regFile     src/server/mr-commands.ts (also the MR backend behind
 *                        verbs.mr.reg / verbs.mr.dereg: RAM arena, pins)
 *   fs.lease, fs.unlease, mem.leases          src/server/lease-commands.ts
 *   mem.pinPages, mem.unpinPages, mem.pinCounts  src/server/pin-commands.ts
 *   verbs.mr.advise, mem.odpQuery, mem.odpInvalidate  src/server/odp-commands.ts
 *   mem.stats            src/server/stat-commands.ts
 *   fs.faults            src/server/storage-fault-commands.ts (fsync EIO, FLUSH EIO, ENOSPC)
 *   test.freeBehindMr    src/server/test-commands.ts (TEST ONLY)
 *
 * The pin policy (config `server.policy`, src/memory/policy.ts) decides what
 * a long-term pin of a file range may do at registration and what truncate,
 * punch-hole and unlink do to pinned pages (the filesystem's layout guard).
 */
import { LayoutPolicy, ServerMemory, type LayoutGuard } from '../memory/index.ts'
import { EmuError, ErrorCodes } from '../errors.ts'
import { Params } from '../params.ts'
import { attachFsCommands } from './fs-commands.ts'
import { LayoutGuardSwitch } from './layout-guard-switch.ts'
import { attachLeaseCommands } from './lease-commands.ts'
import { LeaseRevocation } from './lease-revocation.ts'
import { attachMrCommands, serverMrBackend } from './mr-commands.ts'
import { MrRegistration } from './mr-registration.ts'
import { MrRegistry } from './mr-registry.ts'
import { OdpBinding } from './odp-binding.ts'
import { attachOdpCommands } from './odp-commands.ts'
import { attachPinCommands } from './pin-commands.ts'
import type { ServerHostHooks, ServerNodeContext, ServerRdma } from './server-context.ts'
import type { PeerInfo } from '../../fabric/transport.ts'
import { memStats, mrCounts, type MemStatsReply, type MrCounts, type StatsSources } from './server-stats.ts'
import { ServerFs } from './server-fs.ts'
import { ShortTermPins } from './short-term-pins.ts'
import { attachStatCommands } from './stat-commands.ts'
import { attachStorageFaultCommands } from './storage-fault-commands.ts'
import { attachTestCommands } from './test-commands.ts'

export interface ServerHost {
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
  /** The server's files by name, as a local process sees them (what `fs.*` commands do). */
  files: ServerFs
  /** What `mem.stats` answers: pins, oracle, filesystem, DAX, ODP, MRs, the policy's counters. */
  stats(): MemStatsReply
  close(): void
}

/**
 * Attach the server's memory model and commands to a node. Call after
 * attachRdma (the verbs service gets the server's MR backend) and before the
 * node reports ready.
 */
export function attachServer(ctx: ServerNodeContext, rdma: ServerRdma, hooks: ServerHostHooks): ServerHost {
  if (ctx.nodeConfig.role !== 'server') throw new EmuError(ErrorCodes.EINVAL, `node ${ctx.id} is not a server`)
  const cfg = ctx.nodeConfig.server
  const { control, log } = ctx
  const { device } = rdma
  const mem = new ServerMemory({
    dataDir: ctx.dataDir,
    deviceBytes: cfg.deviceBytes,
    pageSize: cfg.pageSize,
    ramBytes: Params.defaultRamBytes,
    dirtyExpireMs: cfg.dirtyExpireMs,
    writebackMode: cfg.writebackMode,
    writebackIntervalMs: Params.defaultWritebackIntervalMs,
  })
  const { fs } = mem
  // One id sequence: MR pin owners and short-term pin handles.
  let seq = 0
  const nextId = (): number => ++seq

  const registry = new MrRegistry({ mem, device, log })
  const revocation = new LeaseRevocation({
    server: ctx.id, control, device, registry, log, breakTimeMs: cfg.leaseBreakTimeMs,
    killHolder: cfg.leaseRevokeKill ? hooks.shutdownNode : undefined,
  })
  const policy = new LayoutPolicy(cfg.policy, { pins: mem.pins, breakLease: (ino, op) => revocation.breakLease(ino, op), leaseHeld: (ino) => revocation.leases.get(ino) !== undefined, truncateExtend: cfg.truncateExtend })
  const guard = new LayoutGuardSwitch(fs, policy)
  const odp = new OdpBinding(mem, registry, log)
  const shortPins = new ShortTermPins(mem, nextId)
  const registration = new MrRegistration({ mem, registry, odp, policy, revocation, nextId })
  const stats: StatsSources = { mem, policy, registry, revocation, deviceMrs: () => device.mrs.size, shortTermPins: () => shortPins.size }

  const files = new ServerFs({ fs, policy, revocation, registry, self: ctx.id })

  // The verbs service's verbs.mr.reg / verbs.mr.dereg now serve RAM-arena pages, pinned.
  rdma.verbs.setMrBackend(serverMrBackend(registration, registry))
  attachFsCommands(control, files)
  attachMrCommands(control, registration)
  attachLeaseCommands(control, { fs: files, revocation })
  attachPinCommands(control, mem, shortPins)
  attachOdpCommands(control, { mem, log, odpEntry: (stag) => registry.odpEntry(stag) })
  attachStatCommands(control, stats)
  attachTestCommands(control, fs, guard)
  attachStorageFaultCommands(control, mem.faults, log)

  // A peer that goes down loses its MRs, pins and leases. The RDMA service
  // (attached first, so its listener runs first) deregisters its MRs, which
  // releases their pins (MrRegistry); whatever is left goes here.
  const onPeer = (info: PeerInfo): void => {
    if (info.state !== 'down') return
    const n = registry.peerDown(info.id)
    if (n) log.info({ peer: info.id, mrs: n }, 'peer down: its MR pins released')
    shortPins.dropPeer(info.id)
    // Its leases go too (a break waiting on it completes).
    const lost = revocation.leases.dropHolder(info.id)
    if (lost) log.info({ peer: info.id, leases: lost }, 'peer down: its layout leases released')
  }
  control.transport.on('peer', onPeer)

  return {
    mem,
    policy,
    setLayoutGuard: (g) => guard.set(g),
    mrCounts: () => mrCounts(stats),
    files,
    stats: () => memStats(stats),
    close() {
      control.transport.off('peer', onPeer)
      revocation.close()
      registry.close()
      // Clean unmount: everything reaches the image before it closes (not
      // when orphaned: that is a crash, and a sync on a loaded disk can take
      // longer than anyone waits).
      try {
        if (!ctx.orphaned) fs.syncAll()
      } catch (err) {
        log.error({ err }, 'final sync failed')
      }
      mem.close()
    },
  }
}
