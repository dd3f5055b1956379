import { fileURLToPath } from 'node:url'
import { availableParallelism, loadavg } from 'node:os'
import { performance } from 'node:perf_hooks'
import { Piscina } from 'piscina'
import { FROM_SOURCE } from '../package-root.ts'
import { Params } from '../params.ts'
import { encodePacket, type PacketInit } from '../../fabric/codec.ts'
import { InlineDataPath } from '../engine/data-path.ts'
import { respondFault } from '../engine/responder-fault.ts'
import { RespFault } from '../engine/status.ts'
import { FrameMemory } from '../memory/frame-memory.ts'
import type { ServerMemoryDesc } from '../memory/index.ts'
import type { Mr } from '../memory/stag.ts'
import type { DataPath, EngineQp, RespResource } from '../engine/engine-qp.ts'
import { F, OP_FIELDS, OpKind, type DataPathResult, type DataPathTask, type OpExtra, type RegionRef } from './data-path-task.ts'
import { StageRing, type StageSlice } from './stage-ring.ts'
import { executeBatch } from './execute-batch.ts'

/**
 * The server's data path in piscina worker threads (design brief section 2):
 * the responder's memory work for one QP and one received train becomes one
 * task. Each QP is bound to one worker, which runs that QP's tasks in the
 * order they were sent: per-QP order holds with several batches in flight,
 * and QPs bound to different workers run in parallel. WRITE payloads go
 * through a shared staging ring; responses come back encoded in one
 * transferred buffer.
 * Actions (sending a packet, posting a completion) run in issue order once
 * the work before them is done.
 */
interface Action {
  /** Ops issued on this lane before the action: it runs only if they all succeeded. */
  opsBefore: number
  run: (r: DataPathResult) => void
}

interface Batch {
  task: DataPathTask
  slice: StageSlice | undefined
  actions: Action[]
  /** Set when the worker has answered (actions-only batches start answered). */
  result?: DataPathResult
  err?: Error
  /** The regions as main-thread objects, to finish the batch here after an ODP fault. */
  regions: Map<number, FrameMemory>
  /** Sent to a worker (else run in place, or held back). */
  sent: boolean
  /** Held back while the QP waits for a fault: run here, in order, when it reaches the head. */
  deferred?: Uint8Array[]
}

/** Where a QP runs, kept across idle spells. */
interface Home {
  pool: Piscina
  stage: StageRing
  /** Lane id the worker knows the QP by. */
  id: number
  /**
   * An ODP fault went back to the main thread: the worker holds the lane (its
   * later batches come back skipped) and new batches are held back here, so the
   * QP's operations keep their order while the main thread serves the fault.
   */
  held: boolean
  /** The next task sent tells the worker to release the lane. */
  resume: boolean
}

interface Lane {
  /** Op rows (OP_FIELDS numbers each) of the batch being built. */
  ops: number[]
  extras: Array<OpExtra | undefined>
  /** WRITE payloads of the batch being built, copied to staging at commit. */
  payloads: Uint8Array[]
  stageBytes: number
  actions: Action[]
  mems: Map<number, RegionRef>
  /** The same regions, as main-thread objects (for batches run in place). */
  regions: Map<number, FrameMemory>
  /** Bytes the batch being built moves (payloads, read data, atomics). */
  weight: number
  stage: StageRing
  /** Batches sent to the worker, oldest first; their actions run in this order. */
  inflight: Batch[]
  /** The worker this QP is bound to. */
  pool: Piscina
  dead: boolean
}

export interface WorkerDataPathOptions {
  workers: number
  /** Send an encoded packet (the device's emit for the QP's peer). */
  emit: (qp: EngineQp, pkt: Uint8Array) => void
  /** A batch failed (region deregistered under it, or a worker error). */
  onFault?: (qp: EngineQp, why: string) => void
  /**
   * A batch moving at most this many bytes, on a QP with nothing in flight,
   * runs in place on the main thread. 0: everything goes to the workers.
   */
  inlineBelowBytes?: number
  /**
   * 'always': every other batch goes to the workers. 'adaptive': while the
   * main thread has headroom (event-loop utilisation), or no core is free
   * for a worker (load average), batches of idle QPs run in place too; the
   * workers take over when the main thread is busy and cores are free.
   */
  offload?: 'always' | 'adaptive'
}

/**
 * The one ArrayBuffer all payloads view, when it can be given away: not
 * shared memory, and larger than Node's Buffer pool (Buffer.poolSize, 8 KiB;
 * small Buffers share it with unrelated data).
 */
function soleBuffer(payloads: Uint8Array[]): ArrayBuffer | undefined {
  const buf = payloads[0]?.buffer
  if (!(buf instanceof ArrayBuffer) || buf.byteLength <= Buffer.poolSize) return undefined
  for (const p of payloads) if (p.buffer !== buf) return undefined
  return buf
}

const NO_RESULT: DataPathResult = { failedAt: -1, faultAt: -1, out: undefined, outAt: undefined, origs: [] }

/**
 * The worker's entry. The build (what node processes run) loads its compiled
 * entry directly. From the TypeScript sources (tests that run this data path in
 * the tap process) a worker cannot load a .ts entry under Node 20's loader
 * hooks: bootstrap.mjs registers tsx in the worker first, then imports ENTRY.
 */
const ENTRY = new URL(FROM_SOURCE ? './data-path-worker.ts' : './data-path-worker.js', import.meta.url)
const WORKER_FILE = FROM_SOURCE ? fileURLToPath(new URL('./bootstrap.mjs', import.meta.url)) : fileURLToPath(ENTRY)

export class WorkerDataPath implements DataPath {
  /**
   * One single-thread pool per worker: a QP is bound to one worker, which
   * runs its tasks in the order they were sent, so several batches of one QP
   * can be in flight without reordering its memory operations.
   */
  private readonly pools: Piscina[]
  private nextPool = 0
  private readonly lanes = new Map<EngineQp, Lane>()
  private readonly homes = new WeakMap<EngineQp, Home>()
  private nextLane = 1
  private readonly inline: InlineDataPath
  private readonly opts: WorkerDataPathOptions
  private elu: ReturnType<typeof performance.eventLoopUtilization> | undefined
  private pending = 0
  private sampler: NodeJS.Timeout | undefined
  /** Adaptive offload: the main thread is busy, the workers take the batches. */
  private mainBusy = false
  /** Bytes run at once per QP in the train being received (runNow). */
  private readonly runNowBytes = new Map<EngineQp, number>()
  readonly counters = { tasks: 0, ops: 0, faults: 0, trainsHandedOver: 0, inlineBatches: 0, inlineOps: 0, offloadSwitches: 0, elu: 0, odpHandbacks: 0, odpSkipped: 0, odpHeldBatches: 0 }

  constructor(memory: ServerMemoryDesc, opts: WorkerDataPathOptions) {
    this.opts = { ...opts, inlineBelowBytes: opts.inlineBelowBytes ?? 0, offload: opts.offload ?? 'always' }
    // Adaptive offload: sample the main thread's event-loop utilisation; hysteresis between the
    // two thresholds keeps it from flapping every sample.
    this.sampler = setInterval(() => {
      if (this.opts.offload !== 'adaptive') return
      const now = performance.eventLoopUtilization()
      const elu = this.elu ? performance.eventLoopUtilization(now, this.elu).utilization : 0
      this.elu = now
      this.counters.elu = Math.round(elu * 100) / 100
      // Offloading only pays when another core is free to run the worker: on a machine whose cores
      // are all busy (load average), in place is faster even for a busy main thread.
      const spareCores = availableParallelism() - loadavg()[0]!
      if (!this.mainBusy && elu > Params.offloadBusyElu && spareCores >= 1) this.mainBusy = true
      else if (this.mainBusy && (elu < Params.offloadIdleElu || spareCores < 0.5)) this.mainBusy = false
      else return
      this.counters.offloadSwitches++
    }, Params.offloadSampleMs).unref()
    this.inline = new InlineDataPath(opts.emit)
    if (!Number.isInteger(opts.workers) || opts.workers < 1) throw new RangeError(`workers must be a positive integer, got ${opts.workers}`)
    this.pools = Array.from({ length: opts.workers }, () => new Piscina({
      filename: WORKER_FILE,
      minThreads: 1,
      maxThreads: 1,
      concurrentTasksPerWorker: Params.workerInflightBatches,
      idleTimeout: 2 ** 31 - 1,
      // Workers never block in Atomics.wait between tasks (no timers or sockets stall).
      atomics: 'disabled',
      workerData: { memory, entry: ENTRY.href },
    }))
  }

  /** Change the policy without restarting the workers. */
  configure(o: { inlineBelowBytes?: number; offload?: 'always' | 'adaptive' }): void {
    if (o.inlineBelowBytes !== undefined) this.opts.inlineBelowBytes = o.inlineBelowBytes
    if (o.offload !== undefined) {
      this.opts.offload = o.offload
      this.mainBusy = false
      this.elu = undefined
    }
  }

  get depth(): number {
    return this.pending
  }

  get threads(): number {
    return this.pools.length
  }

  private lane(qp: EngineQp): Lane {
    let l = this.lanes.get(qp)
    if (!l) {
      // A QP keeps its worker and its staging ring across idle spells (a ring is not free to allocate).
      let home = this.homes.get(qp)
      if (!home) this.homes.set(qp, (home = { pool: this.pools[this.nextPool++ % this.pools.length]!, stage: new StageRing(Params.workerStageBytes), id: this.nextLane++, held: false, resume: false }))
      this.lanes.set(qp, (l = { ops: [], extras: [], payloads: [], stageBytes: 0, actions: [], mems: new Map(), regions: new Map(), weight: 0, stage: home.stage, inflight: [], pool: home.pool, dead: false }))
    }
    return l
  }

  /** Queue an op on the QP's lane; undefined when the region is not worker-capable (then run inline, in order). */
  private op(qp: EngineQp, mr: Mr, kind: number, off: number, len: number, psn: number, extra?: OpExtra): number | undefined {
    if (!(mr.memory instanceof FrameMemory)) return undefined
    const l = this.lane(qp)
    if (!l.mems.has(mr.serial)) {
      l.mems.set(mr.serial, { desc: mr.memory.shared(), live: mr.live })
      l.regions.set(mr.serial, mr.memory)
    }
    l.weight += len
    const i = l.ops.length / OP_FIELDS
    l.ops.push(kind, mr.serial, off, len, psn, kind === OpKind.WRITE ? l.stageBytes : 0)
    if (extra) l.extras[i] = extra
    return i
  }

  private action(qp: EngineQp, run: (r: DataPathResult) => void): void {
    const l = this.lane(qp)
    l.actions.push({ opsBefore: l.ops.length / OP_FIELDS, run })
  }

  private response(r: DataPathResult, i: number): Uint8Array {
    // Ops from `extraFrom` on were finished on the main thread after an ODP fault.
    if (r.extra && i >= r.extraFrom!) r = r.extra
    return new Uint8Array(r.out!, r.outAt![2 * i], r.outAt![2 * i + 1])
  }

  write(qp: EngineQp, mr: Mr, off: number, payload: Uint8Array, psn: number): void {
    const i = this.op(qp, mr, OpKind.WRITE, off, payload.length, psn)
    if (i === undefined) return this.then(qp, () => this.inline.write(qp, mr, off, payload, psn))
    const l = this.lane(qp)
    l.payloads.push(payload)
    l.stageBytes += payload.length
  }

  /**
   * A small READ or atomic on a QP with nothing queued or in flight runs at
   * once on this thread: the same work the commit would do in place a moment
   * later, without building a batch (a read_lat round trip is mostly that
   * overhead). At most inlineBelowBytes per QP and received train go this way,
   * so large work still reaches the workers as before.
   */
  private runNow(qp: EngineQp, len: number): boolean {
    const l = this.lanes.get(qp)
    if (l && (l.ops.length || l.actions.length || l.inflight.length || l.dead)) return false
    if (this.homes.get(qp)?.held || qp.resp.failed) return false
    const bytes = (this.runNowBytes.get(qp) ?? 0) + len
    if (bytes > this.opts.inlineBelowBytes!) return false
    this.runNowBytes.set(qp, bytes)
    this.counters.inlineOps++
    return true
  }

  respond(qp: EngineQp, p: PacketInit, src?: { mr: Mr; off: number; len: number }): void {
    if (!src || src.len === 0) {
      const pkt = encodePacket(p)
      return this.then(qp, () => this.opts.emit(qp, pkt))
    }
    if (this.runNow(qp, src.len)) return this.inline.respond(qp, p, src)
    const i = this.op(qp, src.mr, OpKind.READ_RESPOND, src.off, src.len, p.psn, { p })
    if (i === undefined) return this.then(qp, () => this.inline.respond(qp, p, src))
    this.action(qp, (r) => this.opts.emit(qp, this.response(r, i)))
  }

  atomic(qp: EngineQp, p: PacketInit, mr: Mr, off: number, cas: boolean, swapAdd: bigint, compare: bigint, res: RespResource): void {
    if (this.runNow(qp, 8)) return this.inline.atomic(qp, p, mr, off, cas, swapAdd, compare, res)
    const i = this.op(qp, mr, OpKind.ATOMIC, off, 8, p.psn, { p, cas, a: swapAdd, b: compare })
    if (i === undefined) return this.then(qp, () => this.inline.atomic(qp, p, mr, off, cas, swapAdd, compare, res))
    this.action(qp, (r) => {
      res.orig = r.origs[i]!
      this.opts.emit(qp, this.response(r, i))
    })
  }

  atomicWrite(qp: EngineQp, mr: Mr, off: number, value: bigint, psn: number): void {
    const i = this.op(qp, mr, OpKind.ATOMIC_WRITE, off, 8, psn, { a: value })
    if (i === undefined) this.then(qp, () => this.inline.atomicWrite(qp, mr, off, value, psn))
  }

  flush(qp: EngineQp, mr: Mr, off: number, len: number, psn: number): void {
    const i = this.op(qp, mr, OpKind.FLUSH, off, len, psn)
    if (i === undefined) this.then(qp, () => this.inline.flush(qp, mr, off, len, psn))
  }

  then(qp: EngineQp, fn: () => void): void {
    const l = this.lanes.get(qp)
    // Nothing pending on this QP: no reason to wait.
    if (!l || (l.ops.length === 0 && l.actions.length === 0 && l.inflight.length === 0)) return fn()
    this.action(qp, fn)
  }

  commit(qp: EngineQp, exclusive: boolean): void {
    this.runNowBytes.delete(qp)
    const l = this.lanes.get(qp)
    if (!l || (l.ops.length === 0 && l.actions.length === 0)) return
    const home = this.homes.get(qp)!
    if (home.held && l.ops.length > 0) {
      // The QP waits for an ODP fault the main thread serves: this batch runs
      // here, after everything before it (drain), with its payloads as they are.
      const task: DataPathTask = { mems: [...l.mems], ops: Float64Array.from(l.ops), extras: l.extras, stage: undefined, train: undefined }
      const b: Batch = { task, slice: undefined, actions: l.actions, regions: l.regions, sent: false, deferred: l.payloads }
      this.counters.odpHeldBatches++
      this.reset(l)
      l.actions = []
      l.inflight.push(b)
      this.pending++
      return this.drain(qp, l)
    }
    const inPlace = l.weight <= this.opts.inlineBelowBytes! || (this.opts.offload === 'adaptive' && !this.mainBusy)
    if (l.ops.length > 0 && l.inflight.length === 0 && inPlace) {
      // A small batch, or a main thread with headroom, on an idle QP: shipping the batch to a worker
      // costs more than doing it (order is kept: nothing of this QP is in flight). Atomics stay atomic
      // against the workers: same memory, Atomics.
      const regions = l.regions
      const task: DataPathTask = { mems: [...l.mems], ops: Float64Array.from(l.ops), extras: l.extras, stage: undefined, train: undefined }
      const r = executeBatch(task, (serial) => regions.get(serial)!, l.payloads)
      // On the main thread every ODP fault is served in place; one that still asks for it cannot be.
      if (r.faultAt >= 0) r.failedAt = r.faultAt
      this.counters.inlineBatches++
      this.counters.inlineOps += l.ops.length / OP_FIELDS
      this.reset(l)
      l.inflight.push({ task, slice: undefined, actions: l.actions, result: r, regions, sent: false })
      l.actions = []
      this.pending++
      return this.drain(qp, l)
    }
    let slice: StageSlice | undefined
    let train: ArrayBuffer | undefined
    if (l.stageBytes > 0) {
      const whole = exclusive ? soleBuffer(l.payloads) : undefined
      if (whole) {
        // The train is this QP's alone: hand the received buffer over, no copy at all.
        train = whole
        let k = 0
        for (let row = 0; row < l.ops.length; row += OP_FIELDS) if (l.ops[row] === OpKind.WRITE) l.ops[row + F.STAGE] = l.payloads[k++]!.byteOffset
        this.counters.trainsHandedOver++
      } else {
        // One copy per payload into shared staging: cheaper than handing many buffers over one by one.
        slice = l.stage.take(l.stageBytes)
        const dst = new Uint8Array(slice.sab, slice.base, slice.bytes)
        let at = 0
        for (const p of l.payloads) {
          dst.set(p, at)
          at += p.length
        }
        if (slice.base) for (let row = 0; row < l.ops.length; row += OP_FIELDS) if (l.ops[row] === OpKind.WRITE) l.ops[row + F.STAGE] += slice.base
      }
    }
    const b: Batch = { task: { mems: [...l.mems], ops: Float64Array.from(l.ops), extras: l.extras, stage: slice?.sab, train, lane: home.id }, slice, actions: l.actions, regions: l.regions, sent: false }
    this.reset(l)
    l.actions = []
    l.inflight.push(b)
    this.pending++
    if (b.task.ops.length === 0) {
      // Actions only: they wait for nothing but the batches before them.
      b.result = NO_RESULT
    } else {
      this.counters.tasks++
      this.counters.ops += b.task.ops.length / OP_FIELDS
      b.sent = true
      if (home.resume) {
        b.task.resume = true
        home.resume = false
      }
      l.pool.run(b.task, train ? { transferList: [train] } : undefined).then(
        (r: DataPathResult) => {
          b.result = r
          // From now on the QP's new batches wait here until the fault is served.
          if (r.faultAt >= 0 || r.skipped) home.held = true
          this.drain(qp, l)
        },
        (err: Error) => {
          b.result = { failedAt: 0, faultAt: -1, out: undefined, outAt: undefined, origs: [] }
          b.err = err
          this.drain(qp, l)
        },
      )
    }
    this.drain(qp, l)
  }

  /** Start a new batch on the lane (actions are handed over by the caller). */
  private reset(l: Lane): void {
    l.ops = []
    l.extras = []
    l.payloads = []
    l.stageBytes = 0
    l.mems = new Map()
    l.regions = new Map()
    l.weight = 0
  }

  /** Run the actions of answered batches, oldest first. */
  private drain(qp: EngineQp, l: Lane): void {
    for (;;) {
      const head = l.inflight[0]
      if (!head) break
      if (head.deferred && !head.result) head.result = l.dead ? NO_RESULT : this.finishHere(head, 0)
      if (!head.result) break
      const b = l.inflight.shift()!
      this.pending--
      if (!l.dead && (b.result!.faultAt >= 0 || b.result!.skipped)) {
        // The worker stopped at an ODP fault only the main thread can serve (or
        // skipped the batch behind one): finish the batch here, in order.
        const r = b.result!
        const from = r.skipped ? 0 : r.faultAt
        if (r.train) b.task.train = r.train
        if (r.skipped) this.counters.odpSkipped++
        else {
          this.counters.odpHandbacks++
          b.regions.get(b.task.ops[from * OP_FIELDS + F.REGION]!)?.odp?.countHandback()
        }
        const rest = this.finishHere(b, from)
        r.extra = rest
        r.extraFrom = from
        r.failedAt = rest.failedAt
        r.faultAt = -1
        r.skipped = false
        for (let i = from; i < rest.origs.length; i++) if (rest.origs[i] !== undefined) r.origs[i] = rest.origs[i]
      }
      if (b.slice) l.stage.release(b.slice)
      if (l.dead) continue
      const r = b.result!
      for (const a of b.actions) {
        if (r.failedAt >= 0 && a.opsBefore > r.failedAt) break
        a.run(r)
      }
      if (r.failedAt >= 0) this.fail(qp, l, b.task.ops[r.failedAt * OP_FIELDS + F.PSN]!, b.err)
    }
    const home = this.homes.get(qp)
    if (home?.held && !l.inflight.some((b) => b.sent && !b.result)) {
      // Every batch the worker held has come back and run here: the lane goes back to the worker.
      home.held = false
      home.resume = true
    }
    if (l.inflight.length === 0 && l.ops.length === 0 && l.actions.length === 0) this.lanes.delete(qp)
  }

  /**
   * Run a batch (from op `from` on) on the main thread, where every ODP fault
   * can be served (filesystem work included). Its payloads are still here:
   * held back, in the staging ring, or the train the worker gave back.
   */
  private finishHere(b: Batch, from: number): DataPathResult {
    const r = executeBatch(b.task, (serial) => b.regions.get(serial)!, b.deferred, from)
    if (r.faultAt >= 0) r.failedAt = r.faultAt
    return r
  }

  private fail(qp: EngineQp, l: Lane, psn: number, err?: Error): void {
    this.counters.faults++
    l.dead = true
    // The region went away under checked work: answer as the responder would have.
    const why = err ? `data path worker failed: ${err.message}` : 'memory region invalidated during the operation, or an ODP page could not be faulted in'
    respondFault(qp, psn, RespFault.REMOTE_ACCESS, why, { now: true })
    this.opts.onFault?.(qp, err?.message ?? 'region invalidated')
  }

  /**
   * Resolves once every worker thread has booted and loaded its module (one
   * probe task each): a switch to the workers replies only then, so the first
   * batches do not wait out a thread's start (seconds on a loaded machine,
   * longer than a QP's retry budget).
   */
  async ready(): Promise<void> {
    await Promise.all(this.pools.map((p) => p.run({ ping: true })))
  }

  async close(): Promise<void> {
    clearInterval(this.sampler)
    await Promise.all(this.pools.map((p) => p.destroy()))
  }
}
