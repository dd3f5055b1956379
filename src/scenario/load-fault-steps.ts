/**
 * The fault steps of a scenario, completed after the schema has passed:
 * node ids that must exist (with the right role), fault ids unique, message
 * types that the node message table knows, partitions that name two disjoint
 * sides. Problems go to the caller's list, one line each, naming the path.
 */
import type { ClusterConfig } from '../config/defaults.ts'
import { NodeMessages } from '../../fabric/node-messages.ts'
import type { Step, StepBase } from './types.ts'

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the JSON step, schema-valid but untyped
type Raw = Record<string, any>

export interface FaultStepContext {
  config: ClusterConfig
  problems: string[]
  /** A node id of this role (default: the first of the role), checked; marks it used. */
  node(at: string, id: string | undefined, role: 'server' | 'client' | 'any'): string
  /** Fault ids defined so far, with the step that defined them. */
  faultIds: Map<string, number>
}

const MESSAGE_TYPES = new Set(Object.keys(NodeMessages))

/** The fault step `s` (steps[i]) completed, or undefined when `s` is no fault step. */
export function completeFaultStep(s: Raw, i: number, base: StepBase, c: FaultStepContext): Step | undefined {
  const at = `steps[${i}]`
  const nodes = (where: string, ids: string[] | undefined): string[] | undefined => ids?.map((id, k) => c.node(`${where}[${k}]`, id, 'any'))
  const faultId = (): string => {
    const id: string = s.id ?? `${s.do}-${i}`
    const had = c.faultIds.get(id)
    if (had !== undefined) c.problems.push(`${at}.id: ${JSON.stringify(id)} is already the id of the fault of steps[${had}]`)
    c.faultIds.set(id, i)
    return id
  }
  const dur = s.durationMs !== undefined ? { durationMs: s.durationMs as number } : {}
  switch (s.do) {
    case 'netem': {
      const from = nodes(`${at}.from`, s.from)
      const to = nodes(`${at}.to`, s.to)
      const spec = {
        ...(s.delay ? { delay: s.delay } : {}),
        ...(s.loss !== undefined ? { loss: typeof s.loss === 'number' ? { probability: s.loss } : s.loss } : {}),
        ...(s.duplicate !== undefined ? { duplicate: probabilityOf(s.duplicate) } : {}),
        ...(s.reorder !== undefined ? { reorder: probabilityOf(s.reorder) } : {}),
        ...(s.corrupt !== undefined ? { corrupt: probabilityOf(s.corrupt) } : {}),
        ...(s.rate ? { rate: s.rate } : {}),
      }
      return { ...base, do: 'netem', id: faultId(), ...(from ? { from } : {}), ...(to ? { to } : {}), ...(s.seed !== undefined ? { seed: s.seed } : {}), ...dur, ...spec }
    }
    case 'partition': {
      if (s.isolate !== undefined) {
        const node = c.node(`${at}.isolate`, s.isolate, 'any')
        if (c.config.nodes.length < 2) c.problems.push(`${at}.isolate: the configuration has no other node to cut ${node} off from`)
        return { ...base, do: 'partition', id: faultId(), isolate: node, oneWay: s.oneWay === true, ...dur }
      }
      const sides: [string[], string[]] = [nodes(`${at}.between[0]`, s.between[0])!, nodes(`${at}.between[1]`, s.between[1])!]
      const both = sides[0].filter((id) => sides[1].includes(id))
      if (both.length) c.problems.push(`${at}.between: ${both.join(', ')} ${both.length === 1 ? 'is' : 'are'} on both sides, expected two disjoint sets of nodes`)
      return { ...base, do: 'partition', id: faultId(), between: sides, oneWay: s.oneWay === true, ...dur }
    }
    case 'dropMessages': {
      ;(s.messages as string[]).forEach((m, k) => {
        if (!MESSAGE_TYPES.has(m)) c.problems.push(`${at}.messages[${k}]: unknown message type ${JSON.stringify(m)}, expected one of the node message table (e.g. lease.break, lease.revoked, cm.connect)`)
      })
      const from = nodes(`${at}.from`, s.from)
      const to = nodes(`${at}.to`, s.to)
      if (s.delayMs !== undefined && s.probability !== undefined) c.problems.push(`${at}: expected probability (drop) or delayMs (delay), not both`)
      return {
        ...base, do: 'dropMessages', id: faultId(), messages: s.messages, ...(from ? { from } : {}), ...(to ? { to } : {}),
        probability: s.probability ?? (s.delayMs !== undefined ? 0 : 1), ...(s.delayMs !== undefined ? { delayMs: s.delayMs } : {}),
        ...(s.seed !== undefined ? { seed: s.seed } : {}), ...dur,
      }
    }
    case 'heal':
      if (s.fault !== undefined && !c.faultIds.has(s.fault)) c.problems.push(`${at}.fault: no earlier fault step has the id ${JSON.stringify(s.fault)}`)
      return { ...base, do: 'heal', ...(s.fault !== undefined ? { fault: s.fault } : {}) }
    case 'kill':
    case 'resume':
    case 'restart':
    case 'stopNode':
      return { ...base, do: s.do, node: c.node(`${at}.node`, s.node, 'any') }
    case 'pause':
      return { ...base, do: 'pause', id: faultId(), node: c.node(`${at}.node`, s.node, 'any'), ...dur }
    case 'storageFault':
      return {
        ...base, do: 'storageFault', id: faultId(), server: c.node(`${at}.server`, s.server, 'server'),
        ...(s.fsync ? { fsync: s.fsync } : {}), ...(s.flush ? { flush: s.flush } : {}), ...(s.enospc !== undefined ? { enospc: s.enospc } : {}), ...dur,
      }
    case 'fsync':
      return { ...base, do: 'fsync', server: c.node(`${at}.server`, s.server, 'server'), file: s.file }
    default:
      return undefined
  }
}

function probabilityOf(v: number | { probability: number }): { probability: number } & Record<string, number> {
  return typeof v === 'number' ? { probability: v } : v
}
