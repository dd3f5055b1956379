/**
 * The Prometheus metrics of a cluster (prom-client): one registry, every
 * series labelled with the node's id and role. Each scrape brings every
 * node's counters (src/metrics/node-stats.ts) and update() turns them into
 * series:
 *
 * - counters (`_total`) only ever go up: each one adds what the node's own
 *   counter moved since the last scrape. A node that restarted (another pid,
 *   or a counter below the last one seen) starts again from zero, and all of
 *   its new count is added, so the exported series stays monotonic;
 * - gauges hold current values (MRs, pins held, queue depth, RSS) and are
 *   dropped for a node that did not answer;
 * - `rdma_emu_up` is 1 for a node that answered this scrape, 0 for one that
 *   did not (a timeout, a node gone).
 */
import { Counter, Gauge, Registry } from 'prom-client'
import type { NodeSample, NodeStats } from './node-stats.ts'

const LABELS = ['node', 'role'] as const
type Labels = { node: string; role: string }

/** A counter: name, help, the extra label (if any), and how to read it from a node's stats (undefined: the node has none). */
interface CounterDef {
  name: string
  help: string
  /** Series of this counter: extra label values and the reading. */
  read: (s: NodeStats) => Array<[Record<string, string>, number]> | undefined
  label?: string
}

interface GaugeDef {
  name: string
  help: string
  read: (s: NodeStats) => number | undefined
}

const one = (v: number | undefined): Array<[Record<string, string>, number]> | undefined => (v === undefined ? undefined : [[{}, v]])

/** Every counter the endpoint exports, in one table (README "Metrics" lists them). */
export const COUNTERS: readonly CounterDef[] = [
  { name: 'rdma_emu_packets_sent_total', help: 'Data-plane IBA packets sent by the node', read: (s) => one(s.rdma.pktsSent) },
  { name: 'rdma_emu_packets_received_total', help: 'Data-plane IBA packets received by the node', read: (s) => one(s.rdma.pktsReceived) },
  { name: 'rdma_emu_bytes_sent_total', help: 'Data-plane bytes sent by the node (IBA packets)', read: (s) => one(s.rdma.bytesSent) },
  { name: 'rdma_emu_bytes_received_total', help: 'Data-plane bytes received by the node (IBA packets)', read: (s) => one(s.rdma.bytesReceived) },
  {
    name: 'rdma_emu_retransmissions_total', help: 'Requester retransmissions, by cause: retransmit timer, sequence NAK (go-back-N), RNR NAK', label: 'cause',
    read: (s) => [[{ cause: 'timeout' }, s.rdma.timeoutRetries ?? 0], [{ cause: 'nak' }, s.rdma.nakRetries ?? 0], [{ cause: 'rnr' }, s.rdma.rnrRetries ?? 0]],
  },
  {
    name: 'rdma_emu_naks_sent_total', help: 'Responder NAKs sent, by AETH syndrome', label: 'syndrome',
    read: (s) => [
      [{ syndrome: 'psn_sequence_error' }, s.rdma.seqNaksSent ?? 0],
      [{ syndrome: 'rnr' }, s.rdma.rnrNaksSent ?? 0],
      [{ syndrome: 'invalid_request' }, s.rdma.invalidRequestNaksSent ?? 0],
      [{ syndrome: 'remote_access_error' }, s.rdma.remoteAccessNaksSent ?? 0],
      [{ syndrome: 'remote_operational_error' }, s.rdma.remoteOperationalNaksSent ?? 0],
    ],
  },
  { name: 'rdma_emu_icrc_errors_total', help: 'Packets dropped because their ICRC did not match', read: (s) => one(s.rdma.icrcErrors) },
  { name: 'rdma_emu_bad_packets_total', help: 'Packets the codec refused (short header, unknown opcode ...)', read: (s) => one(s.rdma.badPackets) },
  { name: 'rdma_emu_pins_acquired_total', help: 'Page pins taken on the server (/proc/vmstat nr_foll_pin_acquired)', read: (s) => one(s.memory?.pins.nr_foll_pin_acquired) },
  { name: 'rdma_emu_pins_released_total', help: 'Page pins released on the server (/proc/vmstat nr_foll_pin_released)', read: (s) => one(s.memory?.pins.nr_foll_pin_released) },
  { name: 'rdma_emu_long_term_pins_refused_total', help: 'Long-term pins the server policy refused', read: (s) => one(s.memory?.policy.pinRefusals) },
  { name: 'rdma_emu_odp_page_faults_total', help: 'ODP page faults served (mlx5 page_faults)', read: (s) => one(s.memory?.odp.pageFaults) },
  { name: 'rdma_emu_odp_pages_invalidated_total', help: 'ODP pages invalidated (mlx5 page_invalidations)', read: (s) => one(s.memory?.odp.pagesInvalidated) },
  { name: 'rdma_emu_oracle_corrupt_bytes_total', help: 'Bytes RDMA wrote into blocks no longer owned by the MR file (the oracle)', read: (s) => one(s.memory?.oracle.corruptBytes) },
  { name: 'rdma_emu_oracle_corrupt_events_total', help: 'RDMA writes that landed in blocks no longer owned by the MR file (the oracle)', read: (s) => one(s.memory?.oracle.corruptEvents) },
  { name: 'rdma_emu_lease_breaks_total', help: 'Layout leases broken (lease-break notices sent)', read: (s) => one(s.memory?.policy.leases.breaks) },
  { name: 'rdma_emu_lease_revocations_total', help: 'Layout leases revoked after the lease-break time', read: (s) => one(s.memory?.policy.leases.revocations) },
  { name: 'rdma_emu_data_path_tasks_total', help: 'Data-path batches run by the worker threads', read: (s) => one(s.dataPath?.tasks) },
]

export const GAUGES: readonly GaugeDef[] = [
  { name: 'rdma_emu_mrs', help: 'Memory regions registered on the node device now', read: (s) => s.rdma.mrs },
  { name: 'rdma_emu_pins_held', help: 'Page pins held now on the server (acquired - released)', read: (s) => (s.memory ? s.memory.pins.nr_foll_pin_acquired - s.memory.pins.nr_foll_pin_released : undefined) },
  { name: 'rdma_emu_pinned_frames', help: 'Page frames with at least one pin now', read: (s) => s.memory?.pins.pinned_frames },
  { name: 'rdma_emu_leases_active', help: 'Layout leases held now', read: (s) => s.memory?.policy.leases.active },
  { name: 'rdma_emu_worker_queue_depth', help: 'Data-path work queued or in flight now (batches)', read: (s) => s.dataPath?.queueDepth },
  { name: 'rdma_emu_data_path_workers', help: 'Data-path worker threads (0: inline on the main thread)', read: (s) => s.dataPath?.workers },
  { name: 'rdma_emu_node_resident_memory_bytes', help: 'Resident set size of the node process', read: (s) => s.node.rssBytes },
  { name: 'rdma_emu_node_uptime_seconds', help: 'Seconds since the node process started', read: (s) => s.node.uptimeMs / 1000 },
]

/** The last raw reading of one counter series of one node, and the process it came from. */
interface Last {
  pid: number
  value: number
}

export class MetricSet {
  readonly registry = new Registry()
  private readonly counters = new Map<string, Counter>()
  private readonly gauges = new Map<string, Gauge>()
  private readonly up: Gauge
  private readonly scrapeSeconds: Gauge
  private readonly last = new Map<string, Last>()

  constructor() {
    for (const c of COUNTERS) {
      this.counters.set(c.name, new Counter({ name: c.name, help: c.help, labelNames: c.label ? [...LABELS, c.label] : [...LABELS], registers: [this.registry] }))
    }
    for (const g of GAUGES) this.gauges.set(g.name, new Gauge({ name: g.name, help: g.help, labelNames: [...LABELS], registers: [this.registry] }))
    this.up = new Gauge({ name: 'rdma_emu_up', help: 'Whether the node answered this scrape (1) or not (0: timeout, node gone)', labelNames: [...LABELS], registers: [this.registry] })
    this.scrapeSeconds = new Gauge({ name: 'rdma_emu_scrape_duration_seconds', help: 'How long gathering the nodes counters took for this scrape', registers: [this.registry] })
  }

  /** Take one scrape's samples (every node, answered or not) and how long gathering them took. */
  update(samples: readonly NodeSample[], seconds: number): void {
    this.scrapeSeconds.set(seconds)
    for (const smp of samples) {
      const labels: Labels = { node: smp.id, role: String(smp.role) }
      this.up.set(labels, smp.stats ? 1 : 0)
      if (!smp.stats) {
        for (const g of this.gauges.values()) g.remove(labels)
        continue
      }
      const s = smp.stats
      for (const def of COUNTERS) {
        const series = def.read(s)
        if (!series) continue
        const counter = this.counters.get(def.name)!
        for (const [extra, raw] of series) this.addCounter(counter, def.name, { ...labels, ...extra }, s.node.pid, raw)
      }
      for (const def of GAUGES) {
        const v = def.read(s)
        const gauge = this.gauges.get(def.name)!
        if (v === undefined || !Number.isFinite(v)) gauge.remove(labels)
        else gauge.set(labels, v)
      }
    }
  }

  /** The text format of every series (what GET /metrics answers). */
  text(): Promise<string> {
    return this.registry.metrics()
  }

  get contentType(): string {
    return this.registry.contentType
  }

  private addCounter(counter: Counter, name: string, labels: Record<string, string>, pid: number, raw: number): void {
    if (!Number.isFinite(raw) || raw < 0) return
    const key = `${name}\0${Object.entries(labels).map(([k, v]) => `${k}=${v}`).join('\0')}`
    const prev = this.last.get(key)
    // Same process and not below the last reading: what it moved since. Otherwise the node started again: all of it is new.
    const delta = prev && prev.pid === pid && raw >= prev.value ? raw - prev.value : raw
    this.last.set(key, { pid, value: raw })
    counter.inc(labels, delta)
  }
}
