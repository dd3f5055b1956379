/**
 * Netem-style impairment of a node's outgoing data packets, per link, after
 * the rules of fabric/fault-rules.ts. Each packet goes through the link's
 * matching rules in order; for each rule, with tc-netem's meaning:
 *
 * - partition / loss: the packet is dropped (loss: independent with
 *   netem's correlation, or Gilbert-Elliott);
 * - duplicate: a second copy follows, with its own delay draw (netem
 *   re-enqueues the clone at the root, where it draws its own delay);
 * - corrupt: one random bit of the packet is flipped, as netem flips one bit
 *   of the frame. The link's packets then carry an ICRC computed before the
 *   flip (fabric/frame.ts, DATA_ICRC), which the receiving device checks, as
 *   a RoCE NIC does, and drops the packet on (counter icrcErrors). The flip
 *   never lands in BTH byte 4, the one byte of the packet the ICRC masks
 *   (FECN/BECN), so every corrupted packet is caught;
 * - delay: time_to_send = now + delay, the delay drawn from the distribution
 *   (fabric/netem-random.ts). Packets wait in a per-link queue ordered by
 *   time_to_send, as netem's tfifo, so jitter reorders them. A train (one
 *   doorbell batch, our TSO) is delayed as one unit, with the delay drawn
 *   for its first packet, as netem delays a GSO super-packet as one skb;
 *   `delay.perPacket` draws each packet's own;
 * - rate: a serialisation queue, as netem's rate: a packet starts after the
 *   previous one has finished, time_to_send = max(now + delay, free) +
 *   frame bytes / rate, counting the packet's RoCEv2 frame (Ethernet, IPv4,
 *   UDP, IBA, ICRC), as netem counts the L2 length.
 * - reorder: the packet is held back and sent right after the next `depth`
 *   packets of the link (or after REORDER_HOLD_MS if nothing follows).
 *
 * Reordering and netem's `reorder P gap G`: netem sends a chosen packet
 * *early* (at once, ahead of packets still waiting out their delay), and only
 * every G-th packet is a candidate; with no delay configured it has no
 * effect. Here a chosen packet is sent *late*, behind the next `depth`
 * packets, with or without a delay, which is the displacement a transport
 * sees: netem with delay D and packets s apart moves a packet about D/s
 * places. `depth` is that displacement, stated directly.
 *
 * The no-fault path costs nothing: a device holds no pipeline work for a
 * link no rule matches (FaultRuleSet.linksTo is a cached empty list).
 */
import { EmuError, ErrorCodes } from '../src/errors.ts'
import type { FaultRuleSet } from './fault-rules.ts'
import { fabricIcrc } from './icrc.ts'
import { ROCE_V2_OVERHEAD } from './pcap.ts'

/** How long a reordered packet waits for followers before it goes alone (ms). */
export const REORDER_HOLD_MS = 1

/** One packet leaving the pipeline. */
export interface WirePacket {
  /** The bytes on the wire (corrupted, when `original` is set). */
  bytes: Uint8Array
  /** ICRC of the packet before any corruption (present on links that corrupt). */
  icrc?: number
  /** The packet before corruption (captures record the wire bytes with the original's ICRC). */
  original?: Uint8Array
}

interface Queued extends WirePacket {
  /** performance.now() at which it leaves. */
  at: number
  seq: number
}

interface Held {
  pkt: Queued
  /** Packets of the link still to go before it. */
  remaining: number
  /** performance.now() after which it goes anyway. */
  until: number
}

class LinkQueue {
  /** Ordered by (at, seq). */
  readonly queue: Queued[] = []
  readonly held: Held[] = []
  timer: NodeJS.Timeout | undefined
  timerAt = Infinity
}

/** Sends the packets of a train to a peer (the device lays it out). */
export type TrainSender = (peer: string, packets: WirePacket[]) => void

/**
 * The per-link queues and timers of one device. submit() takes the packets
 * of one flush to one peer; what is due goes out at once as one train, the
 * rest when due (one timer per link, armed for its earliest packet).
 */
export class NetemPipeline {
  private readonly links = new Map<string, LinkQueue>()
  private seq = 0
  private closed = false

  constructor(private readonly rules: FaultRuleSet, private readonly send: TrainSender) {}

  /** True when some rule applies to packets to `peer` (then submit() them). */
  applies(peer: string): boolean {
    return this.rules.size > 0 && this.rules.linksTo(peer).length > 0
  }

  /** True when delayed or held packets are waiting for some link. */
  get pending(): boolean {
    for (const l of this.links.values()) if (l.queue.length || l.held.length) return true
    return false
  }

  /** Packets (encoded, and owned by the pipeline from now on) to `peer`. */
  submit(peer: string, packets: Uint8Array[]): void {
    if (this.closed) return
    const rules = this.rules.linksTo(peer)
    const icrc = rules.some((l) => l.rule.corrupt !== undefined)
    let link = this.links.get(peer)
    if (!link) this.links.set(peer, (link = new LinkQueue()))
    const now = performance.now()
    // Per rule: the delay of this train (drawn for its first packet).
    const trainDelay = new Map<object, number>()
    for (const bytes of packets) {
      let copies: Queued[] = [{ bytes, at: now, seq: 0, icrc: icrc ? fabricIcrc(bytes) : undefined }]
      let reorder = 0
      for (const rl of rules) {
        const next: Queued[] = []
        for (const p of copies) {
          const f = rl.fate(p.bytes.length)
          if (f.lost) continue
          // Cloned before the bit flip, as netem does; the clone draws its own delay.
          const dup: Queued | undefined = f.duplicate ? { ...p, at: p.at + f.dupDelayMs } : undefined
          if (f.corruptBit >= 0) {
            const flipped = Uint8Array.from(p.bytes)
            flipped[f.corruptBit >>> 3]! ^= 1 << (f.corruptBit & 7)
            p.original ??= p.bytes
            p.bytes = flipped
          }
          let delay = f.delayMs
          if (!rl.rule.delay?.perPacket) {
            const first = trainDelay.get(rl)
            if (first === undefined) trainDelay.set(rl, delay)
            else delay = first
          }
          p.at += delay
          if (p === copies[0]) reorder = Math.max(reorder, f.reorderDepth)
          const out = dup ? [p, dup] : [p]
          const rate = rl.rule.rate
          if (rate) {
            for (const q of out) {
              if (rl.rateFreeAt > q.at) rl.counters.rateQueued++
              q.at = Math.max(q.at, rl.rateFreeAt) + ((q.bytes.length + ROCE_V2_OVERHEAD) * 1000) / rate.bytesPerSec
              rl.rateFreeAt = q.at
            }
          }
          next.push(...out)
        }
        copies = next
      }
      for (const p of copies) {
        p.seq = this.seq++
        if (reorder > 0 && p === copies[0]) {
          link.held.push({ pkt: p, remaining: reorder, until: now + REORDER_HOLD_MS })
          continue
        }
        this.enqueue(link, p)
      }
    }
    this.drain(peer, link)
  }

  /** Drop every waiting packet and stop the timers (the device is closing). */
  close(): void {
    this.closed = true
    for (const l of this.links.values()) {
      if (l.timer) clearTimeout(l.timer)
      l.timer = undefined
      l.queue.length = 0
      l.held.length = 0
    }
    this.links.clear()
  }

  /** Queue a packet, then release held ones it was the last follower of. */
  private enqueue(link: LinkQueue, p: Queued): void {
    insert(link.queue, p)
    if (link.held.length === 0) return
    const released: Held[] = []
    for (const h of link.held) if (--h.remaining === 0) released.push(h)
    if (released.length === 0) return
    link.held.splice(0, link.held.length, ...link.held.filter((h) => h.remaining > 0))
    for (const h of released) {
      // Right behind its last follower, whatever its own delay said.
      h.pkt.at = Math.max(h.pkt.at, p.at)
      h.pkt.seq = this.seq++
      insert(link.queue, h.pkt)
    }
  }

  /** Send what is due on the link as one train; arm the timer for the rest. */
  private drain(peer: string, link: LinkQueue): void {
    if (this.closed) return
    const now = performance.now()
    // Held packets whose followers never came go alone.
    if (link.held.length && link.held.some((h) => h.until <= now)) {
      const late = link.held.filter((h) => h.until <= now)
      link.held.splice(0, link.held.length, ...link.held.filter((h) => h.until > now))
      for (const h of late) {
        h.pkt.at = Math.max(h.pkt.at, now)
        h.pkt.seq = this.seq++
        insert(link.queue, h.pkt)
      }
    }
    let due = 0
    while (due < link.queue.length && link.queue[due]!.at <= now) due++
    if (due > 0) {
      const out = link.queue.splice(0, due)
      try {
        this.send(peer, out)
      } catch (err) {
        // The peer vanished meanwhile: its packets are lost, like a frame on a dead link.
        if (!(err instanceof EmuError && err.code === ErrorCodes.TRANSPORT)) throw err
      }
    }
    let next = link.queue.length ? link.queue[0]!.at : Infinity
    for (const h of link.held) next = Math.min(next, h.until)
    if (next === link.timerAt) return
    if (link.timer) clearTimeout(link.timer)
    link.timer = undefined
    link.timerAt = next
    if (next === Infinity) return
    link.timer = setTimeout(() => {
      link.timer = undefined
      link.timerAt = Infinity
      this.drain(peer, link)
    }, Math.max(1, Math.ceil(next - now)))
  }
}

/** Insert by (at, seq): after every packet due no later (a stable time-ordered queue). */
function insert(queue: Queued[], p: Queued): void {
  let lo = 0
  let hi = queue.length
  if (hi === 0 || queue[hi - 1]!.at <= p.at) {
    queue.push(p)
    return
  }
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (queue[mid]!.at <= p.at) lo = mid + 1
    else hi = mid
  }
  queue.splice(lo, 0, p)
}
