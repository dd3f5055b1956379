/**
 * Fault rules: what a node does to the frames it sends, link by link.
 *
 * A rule is one-way. It lives on the sending node and applies to frames
 * from a node in `from` (absent: any) to a node in `to` (absent: any); for a
 * partition both ways, install one rule on each side. A node holds any
 * number of rules; a packet goes through every matching rule in the order
 * they were added (losses, delays and bit flips compose, as chained netem
 * qdiscs would).
 *
 * Never affected: heartbeats (the transport's out-of-band liveness channel,
 * so a partition is never mistaken for a process death: QPs learn of it
 * through their retries, RETRY_EXC_ERR) and frames to or from ids starting
 * with '@' (the launcher, src/launcher/protocol.ts: the test harness, like
 * Jepsen's control node).
 *
 * Determinism: every (rule, link) pair rolls its own PRNG, seeded from
 * (rule seed, from, to), and each data packet consumes exactly DRAWS_PER_PACKET
 * draws whatever happens to it, so the k-th packet's fate on a link depends
 * only on the seed and k. Control-plane decisions use a second PRNG of the
 * pair, so control traffic never shifts the data plane's sequence.
 */
import * as v from 'valibot'
import { EmuError, ErrorCodes } from '../src/errors.ts'
import { Name } from './message-schema.ts'
import { Correlated, distributionValue, DISTRIBUTIONS, linkSeed, seededRandom, type Distribution } from './netem-random.ts'

/** Delay, as netem's `delay TIME [JITTER [CORRELATION]] [distribution D]`. */
export interface DelaySpec {
  /** Mean delay (netem's TIME), ms. */
  ms: number
  /** Jitter (netem's JITTER, the distribution's sigma), ms; default 0. */
  jitterMs?: number
  /** Correlation of successive jitter draws in [0, 1] (netem's CORRELATION); default 0. */
  correlation?: number
  /** Jitter distribution; default 'uniform' (the kernel's tabledist without a table). */
  distribution?: Distribution
  /**
   * Draw the delay of every packet of a train on its own (default false: the
   * packets of one train share the delay drawn for its first packet, as
   * netem delays a GSO super-packet, one skb, as a whole). Per-packet jitter
   * reorders the packets inside every train, which go-back-N RC turns into a
   * retransmission storm; per-train jitter reorders trains.
   */
  perPacket?: boolean
}

/**
 * Gilbert-Elliott loss (netem's `loss gemodel p [r [1-h [1-k]]]`): a
 * two-state Markov chain moved once per packet. In the Good state a packet
 * is lost with probability 1 - k, in the Bad state with 1 - h.
 */
export interface GeModel {
  /** P(Good → Bad) per packet. */
  p: number
  /** P(Bad → Good) per packet; default 1. */
  r?: number
  /** P(a packet gets through in the Bad state); default 0 (the Bad state loses everything). */
  h?: number
  /** P(a packet gets through in the Good state); default 1 (the Good state loses nothing). */
  k?: number
}

/** Loss: netem's `loss random P [CORRELATION]`, or `loss gemodel ...`. */
export type LossSpec = { probability: number; correlation?: number } | { gemodel: GeModel }

/** Drop or delay control messages of the given types (requests and notices; replies are not matched by type). */
export interface ControlFaultSpec {
  /** Message types, e.g. ['lease.break']. */
  messages: string[]
  /** Probability in [0, 1] that such a message is dropped. */
  drop?: number
  /** Delay (ms) added to such a message that is not dropped. */
  delayMs?: number
}

/** One fault rule (see the file comment). */
export interface FaultRule {
  /** Names the rule for fabric.faults.remove and in the counters. */
  id: string
  /** Seed of the rule's dice (mixed with each link's ends). */
  seed: number
  /** Sending nodes the rule applies to; absent: any. */
  from?: string[]
  /** Receiving nodes the rule applies to; absent: any. */
  to?: string[]
  delay?: DelaySpec
  loss?: LossSpec
  /** Probability that a packet is sent twice (netem `duplicate P`). */
  duplicate?: { probability: number }
  /** Probability that one random bit of a packet is flipped (netem `corrupt P`); the receiver's ICRC check drops it. */
  corrupt?: { probability: number }
  /** Probability that a packet is held back behind the next `depth` (default 1) packets of the link (see fabric/netem.ts). */
  reorder?: { probability: number; depth?: number }
  /** Serialisation rate of the link (netem `rate`), counting each packet's RoCEv2 frame bytes. */
  rate?: { bytesPerSec: number }
  /** Drop every data packet and node-to-node control frame of the link. */
  partition?: boolean
  control?: ControlFaultSpec
}

// ---- schema (checked at the control-plane boundary: ERR_BAD_MESSAGE naming the field) ----

const Opt = v.optional
const Probability = v.pipe(v.number(), v.minValue(0), v.maxValue(1))
const NonNegative = v.pipe(v.number(), v.minValue(0))
const Nodes = v.pipe(v.array(Name), v.minLength(1))

export const FaultRuleSchema = v.strictObject({
  id: Name,
  seed: v.pipe(v.number(), v.safeInteger()),
  from: Opt(Nodes),
  to: Opt(Nodes),
  delay: Opt(v.strictObject({ ms: NonNegative, jitterMs: Opt(NonNegative), correlation: Opt(Probability), distribution: Opt(v.picklist(DISTRIBUTIONS)), perPacket: Opt(v.boolean()) })),
  loss: Opt(v.pipe(
    v.strictObject({
      probability: Opt(Probability), correlation: Opt(Probability),
      gemodel: Opt(v.strictObject({ p: Probability, r: Opt(Probability), h: Opt(Probability), k: Opt(Probability) })),
    }),
    v.check((l) => (l.probability === undefined) !== (l.gemodel === undefined), 'give either probability (and correlation) or gemodel'),
    v.check((l) => l.gemodel === undefined || l.correlation === undefined, 'correlation goes with probability, not gemodel'),
  )),
  duplicate: Opt(v.strictObject({ probability: Probability })),
  corrupt: Opt(v.strictObject({ probability: Probability })),
  reorder: Opt(v.strictObject({ probability: Probability, depth: Opt(v.pipe(v.number(), v.safeInteger(), v.minValue(1), v.maxValue(1024))) })),
  rate: Opt(v.strictObject({ bytesPerSec: v.pipe(v.number(), v.gtValue(0)) })),
  partition: Opt(v.boolean()),
  control: Opt(v.strictObject({ messages: v.pipe(v.array(Name), v.minLength(1)), drop: Opt(Probability), delayMs: Opt(NonNegative) })),
})

// ---- per (rule, link) state ----

/** What one rule did to the packets and control messages of one link. */
export interface RuleLinkCounters {
  /** Data packets the rule saw. */
  seen: number
  lost: number
  partitioned: number
  duplicated: number
  reordered: number
  corrupted: number
  /** Packets given a non-zero delay. */
  delayed: number
  /** Packets that waited behind an earlier one in the rate limiter (depends on timing, unlike the rest). */
  rateQueued: number
  /** Control messages dropped (by `control.drop`, or any node-to-node control frame by a partition). */
  controlDropped: number
  controlDelayed: number
}

/** One decision of the log: the packet's index on the link, what was done, the drawn delay. */
export interface DecisionLogEntry {
  k: number
  /** Some of 'partition', 'loss', 'duplicate', 'corrupt', 'reorder', 'delay'; empty: passed untouched. */
  actions: string[]
  /** Delay drawn for the packet, µs (0 when lost; a train takes its first packet's unless `delay.perPacket`). */
  delayUs: number
}

/** A rule's fate for one packet. */
export interface PacketFate {
  /** Lost (by loss or partition): nothing else applies. */
  lost: boolean
  duplicate: boolean
  /** Bit index to flip (never in BTH byte 4, which the ICRC masks), or -1. */
  corruptBit: number
  /** Hold back behind this many later packets, or 0. */
  reorderDepth: number
  /** Delay of the packet and of its duplicate, ms. */
  delayMs: number
  dupDelayMs: number
}

/** Draws every packet consumes from its (rule, link) PRNG. */
export const DRAWS_PER_PACKET = 8
/** Decisions kept in each (rule, link) log. */
export const DECISION_LOG_SIZE = 64

const BTH_RESV8A_BIT = 32

/** The state of one rule on one link (from → to): its dice, counters and decision log. */
export class RuleLink {
  readonly counters: RuleLinkCounters = {
    seen: 0, lost: 0, partitioned: 0, duplicated: 0, reordered: 0, corrupted: 0, delayed: 0, rateQueued: 0, controlDropped: 0, controlDelayed: 0,
  }
  readonly decisions: DecisionLogEntry[] = []
  /** performance.now() at which the rule's rate limiter is free again. */
  rateFreeAt = 0
  private readonly rand: () => number
  private readonly controlRand: () => number
  private readonly lossCor: Correlated
  private readonly delayCor: Correlated
  private geBad = false

  constructor(readonly rule: FaultRule, readonly from: string, readonly to: string) {
    this.rand = seededRandom(linkSeed(rule.seed, from, to))
    this.controlRand = seededRandom(linkSeed(rule.seed, from, to, 'control'))
    const loss = rule.loss
    this.lossCor = new Correlated(loss && !geModelOf(loss) ? ((loss as { correlation?: number }).correlation ?? 0) : 0)
    this.delayCor = new Correlated(rule.delay?.correlation ?? 0)
  }

  /** Roll the fate of the next packet (`bytes` long) on the link: always DRAWS_PER_PACKET draws. */
  fate(bytes: number): PacketFate {
    const r = this.rand
    const uLoss = r(), uGe = r(), uDup = r(), uCorrupt = r(), uBit = r(), uReorder = r(), uJitter = r(), uDupJitter = r()
    const rule = this.rule
    const c = this.counters
    const k = c.seen++
    const actions: string[] = []
    const fate: PacketFate = { lost: false, duplicate: false, corruptBit: -1, reorderDepth: 0, delayMs: 0, dupDelayMs: 0 }
    if (rule.partition) {
      fate.lost = true
      c.partitioned++
      actions.push('partition')
    } else if (this.lose(uLoss, uGe)) {
      fate.lost = true
      c.lost++
      actions.push('loss')
    } else {
      if (rule.duplicate && uDup < rule.duplicate.probability) {
        fate.duplicate = true
        c.duplicated++
        actions.push('duplicate')
      }
      if (rule.corrupt && uCorrupt < rule.corrupt.probability && bytes > 1) {
        const bit = Math.floor(uBit * (bytes * 8 - 8))
        fate.corruptBit = bit >= BTH_RESV8A_BIT ? bit + 8 : bit
        c.corrupted++
        actions.push('corrupt')
      }
      if (rule.reorder && uReorder < rule.reorder.probability) {
        fate.reorderDepth = rule.reorder.depth ?? 1
        c.reordered++
        actions.push('reorder')
      }
      const d = rule.delay
      if (d) {
        fate.delayMs = this.delay(d, uJitter)
        fate.dupDelayMs = this.delay(d, uDupJitter)
        if (fate.delayMs > 0) {
          c.delayed++
          actions.push('delay')
        }
      }
    }
    if (this.decisions.length < DECISION_LOG_SIZE) this.decisions.push({ k, actions, delayUs: Math.round(fate.delayMs * 1000) })
    return fate
  }

  /** Roll a control message of type `type` (a request or notice): dropped, delayed (ms) or untouched (0). */
  control(type: string): 'drop' | number {
    const rule = this.rule
    const u = this.controlRand()
    if (rule.partition) {
      this.counters.controlDropped++
      return 'drop'
    }
    const cf = rule.control
    if (!cf || !cf.messages.includes(type)) return 0
    if (cf.drop !== undefined && u < cf.drop) {
      this.counters.controlDropped++
      return 'drop'
    }
    if (cf.delayMs) {
      this.counters.controlDelayed++
      return cf.delayMs
    }
    return 0
  }

  /** A reply (or any control frame not matched by type): only a partition stops it. */
  controlFrame(): boolean {
    if (!this.rule.partition) return true
    this.counters.controlDropped++
    return false
  }

  private lose(uLoss: number, uGe: number): boolean {
    const loss = this.rule.loss
    if (!loss) return false
    const g = geModelOf(loss)
    if (!g) return this.lossCor.next(uLoss) < (loss as { probability: number }).probability
    // Gilbert-Elliott: lose (or not) in the current state, then move.
    const lost = this.geBad ? uLoss >= (g.h ?? 0) : uLoss >= (g.k ?? 1)
    if (this.geBad) {
      if (uGe < (g.r ?? 1)) this.geBad = false
    } else if (uGe < g.p) {
      this.geBad = true
    }
    return lost
  }

  private delay(d: DelaySpec, u: number): number {
    const sigma = d.jitterMs ?? 0
    if (sigma === 0) return d.ms
    const x = distributionValue(d.distribution ?? 'uniform', this.delayCor.next(u))
    return Math.max(0, d.ms + sigma * x)
  }
}

function geModelOf(loss: LossSpec): GeModel | undefined {
  return (loss as { gemodel?: GeModel }).gemodel
}

// ---- the rules of one node ----

/** fabric.faults.counters: per rule, its counters and decision log on each link it touched. */
export interface FaultRulesReport {
  rules: Array<{ id: string; links: Array<{ from: string; to: string; counters: RuleLinkCounters; decisions: DecisionLogEntry[] }> }>
}

/** True for ids no rule ever touches: the launcher and other '@' tools. */
export function isHarnessId(id: string): boolean {
  return id.startsWith('@')
}

interface RuleEntry {
  rule: FaultRule
  links: Map<string, RuleLink>
}

/**
 * The fault rules of one node (`self`), shared by its data plane
 * (fabric/netem.ts) and its control plane (fabric/control-plane.ts).
 */
export class FaultRuleSet {
  private readonly rules: RuleEntry[] = []
  /** Per destination: the matching (rule, link) states in rule order; rebuilt after each change. */
  private readonly byDest = new Map<string, RuleLink[]>()
  /** Also kept after a rule is removed, so its counters can still be read until clear(). */
  private readonly removed: RuleEntry[] = []

  constructor(readonly self: string) {}

  /** Number of rules in force. */
  get size(): number {
    return this.rules.length
  }

  /** Add a rule (already checked against FaultRuleSchema). A second rule with the same id is EEXIST. */
  add(rule: FaultRule): void {
    if (this.rules.some((e) => e.rule.id === rule.id)) throw new EmuError(ErrorCodes.EEXIST, `fault rule "${rule.id}" exists on ${this.self}`)
    this.rules.push({ rule: structuredClone(rule), links: new Map() })
    this.byDest.clear()
  }

  /** Remove a rule by id (ENOENT when there is none); its counters stay readable. */
  remove(id: string): void {
    const i = this.rules.findIndex((e) => e.rule.id === id)
    if (i < 0) throw new EmuError(ErrorCodes.ENOENT, `no fault rule "${id}" on ${this.self}`)
    this.removed.push(...this.rules.splice(i, 1))
    this.byDest.clear()
  }

  /** Remove every rule and forget all counters. */
  clear(): void {
    this.rules.length = 0
    this.removed.length = 0
    this.byDest.clear()
  }

  /** The (rule, link) states that apply to frames from this node to `to`, in rule order (empty: none). */
  linksTo(to: string): RuleLink[] {
    let links = this.byDest.get(to)
    if (links) return links
    links = []
    if (!isHarnessId(to) && !isHarnessId(this.self)) {
      for (const e of this.rules) {
        const r = e.rule
        if (r.from && !r.from.includes(this.self)) continue
        if (r.to && !r.to.includes(to)) continue
        let link = e.links.get(to)
        if (!link) e.links.set(to, (link = new RuleLink(r, this.self, to)))
        links.push(link)
      }
    }
    this.byDest.set(to, links)
    return links
  }

  /** True when some rule in force on the link to `to` corrupts packets (its packets then carry an ICRC). */
  corrupts(to: string): boolean {
    return this.linksTo(to).some((l) => l.rule.corrupt !== undefined)
  }

  /**
   * Fate of a control frame to `to`: `type` for a request or notice (matched
   * against `control.messages`), undefined for a reply. Returns 'drop', or
   * the delay in ms (0: send now).
   */
  controlFate(to: string, type: string | undefined): 'drop' | number {
    let delay = 0
    for (const link of this.linksTo(to)) {
      if (type === undefined) {
        if (!link.controlFrame()) return 'drop'
        continue
      }
      const f = link.control(type)
      if (f === 'drop') return 'drop'
      delay += f
    }
    return delay
  }

  /** Counters and decision logs of every rule (in force or removed since the last clear) on every link it touched. */
  report(): FaultRulesReport {
    return {
      rules: [...this.rules, ...this.removed].map((e) => ({
        id: e.rule.id,
        links: [...e.links.values()].map((l) => ({ from: l.from, to: l.to, counters: { ...l.counters }, decisions: l.decisions.map((d) => ({ ...d, actions: [...d.actions] })) })),
      })),
    }
  }
}
