/**
 * The server's statistics (mem.stats): the memory model's own (pins, oracle,
 * filesystem, DAX, ODP), the live MRs by kind, and what the pin policy and its
 * layout leases did.
 */
import type { LayoutPolicy, ServerMemory } from '../memory/index.ts'
import type { MemStatsReply, MrCounts, PolicyStats } from '../../fabric/node-message-types.ts'
import type { LeaseRevocation } from './lease-revocation.ts'
import type { MrRegistry } from './mr-registry.ts'

export type { MemStatsReply, MrCounts, PolicyStats }

export interface StatsSources {
  mem: ServerMemory
  policy: LayoutPolicy
  registry: MrRegistry
  revocation: LeaseRevocation
  /** Device MR table size. */
  deviceMrs: () => number
  shortTermPins: () => number
}

export function mrCounts(s: Pick<StatsSources, 'registry' | 'deviceMrs'>): MrCounts {
  const { file, anon } = s.registry.counts()
  return { file, anon, device: s.deviceMrs() }
}

export function policyStats(s: StatsSources): PolicyStats {
  const { leases, counters } = s.revocation
  const list = leases.list()
  return {
    name: s.policy.name,
    leaseBreakTimeMs: leases.breakTimeMs,
    ...s.policy.counters,
    shortTermPins: s.shortTermPins(),
    leases: { ...leases.counters, active: list.length, breaking: list.filter((l) => l.breaking).length, ...counters },
  }
}

export function memStats(s: StatsSources): MemStatsReply {
  const st = s.mem.stats()
  return { ...st, mrs: mrCounts(s), odp: { ...st.odp, mrs: s.registry.counts().odp }, policy: policyStats(s) }
}
