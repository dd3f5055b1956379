import t from 'tap'
import * as path from 'node:path'
import { FrameMemory } from '../src/memory/frame-memory.ts'
import { OdpRegion, OdpStatus, ServerMemory } from '../src/memory/index.ts'
import { MrWord, type Mr } from '../src/memory/stag.ts'
import type { Qp } from '../src/verbs/qp.ts'
import { WorkerDataPath } from '../src/workers/worker-data-path.ts'

// The worker data path, in process, on one worker thread: a QP's first batch
// meets an ODP page the worker cannot fault in (it needs the filesystem), so
// it goes back to the main thread; the batches already sent behind it come
// back untouched (skipped), the ones committed meanwhile wait on the main
// thread (held), and all of them run there in commit order. Then the QP goes
// back to the worker. Payloads staged or handed over (transferred trains)
// both survive the round trip.
const PAGE = 4096
const BATCHES = 12

t.test('odp - a fault handed back by a worker keeps the QP in order', async (t) => {
  const dir = t.testdir()
  const mem = new ServerMemory({ dataDir: path.join(dir, 'data'), deviceBytes: 256 * PAGE, ramBytes: 64 * PAGE })
  t.teardown(() => mem.close())
  const ino = mem.fs.create('f', { dax: true })
  mem.fs.write(ino, 0, new Uint8Array(4 * PAGE))
  const fm = new FrameMemory(mem, { frames: [-1, -1, -1, -1], offset: 0, length: 4 * PAGE, expectedIno: ino, odp: OdpRegion.createDesc(4, undefined, true, mem.odpCounters) })
  const region = fm.odp!
  let majors = 0
  region.majorFault = (first, last) => {
    majors++
    for (let pi = first; pi <= last; pi++) if (region.backing[pi]! < 0) region.backing[pi] = mem.fs.mapRange(ino, pi * PAGE, PAGE)[0]!
    return OdpStatus.OK
  }
  // Mr.live: words LIVE and USERS (src/memory/stag.ts).
  const live = new Int32Array(new SharedArrayBuffer(8))
  live[MrWord.LIVE] = 1
  const mr = { serial: 1, memory: fm, live } as unknown as Mr
  const naks: Uint8Array[] = []
  const dp = new WorkerDataPath(mem.shared(), { workers: 1, emit: (_qp, pkt) => naks.push(pkt), inlineBelowBytes: 0, offload: 'always' })
  t.teardown(() => dp.close())
  let errored = ''
  const qp = { attr: { destQpNum: 7 }, resp: { msn: 0, failed: false }, toError: (why: string) => { errored = why } } as unknown as Qp

  const order: number[] = []
  const last = new Map<number, number>()
  let k = 0
  /** One batch: four one-page WRITEs (value k... on pages 0..3), then an action recording its number. */
  const batch = (exclusive: boolean): void => {
    const n = k++
    // A sole ArrayBuffer over 8 KiB is handed to the worker (transferred) when exclusive.
    const train = new Uint8Array(new ArrayBuffer(4 * PAGE + 64))
    for (let p = 0; p < 4; p++) {
      const payload = train.subarray(p * PAGE, (p + 1) * PAGE).fill((n * 4 + p) & 0xff)
      dp.write(qp, mr, p * PAGE, payload, n * 4 + p)
      last.set(p, (n * 4 + p) & 0xff)
    }
    dp.then(qp, () => {
      order.push(n)
      // Committed while the fault is being served: held back on the main thread.
      if (n === 0) for (let i = 0; i < 2; i++) batch(i % 2 === 0)
    })
    dp.commit(qp, exclusive)
  }
  // Nothing is mapped: the first batch's first WRITE needs a major fault.
  for (let i = 0; i < BATCHES; i++) batch(i % 2 === 1)
  const deadline = Date.now() + 10_000
  while (dp.depth > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5))
  t.equal(dp.depth, 0, 'everything completed')
  t.equal(errored, '', 'the QP did not fail')
  t.equal(naks.length, 0, 'no NAK')
  t.same(order, Array.from({ length: BATCHES + 2 }, (_, i) => i), 'batches completed in commit order')
  for (let p = 0; p < 4; p++) t.equal(mem.fs.read(ino, p * PAGE, PAGE)[100], last.get(p), `page ${p} holds the last WRITE to it`)
  t.ok(majors >= 1, 'the main thread served the major fault')
  t.ok(dp.counters.odpHandbacks >= 1, `handed back: ${dp.counters.odpHandbacks}`)
  t.ok(dp.counters.odpSkipped >= 1, `skipped behind it: ${dp.counters.odpSkipped}`)
  t.ok(dp.counters.odpHeldBatches >= 1, `held back meanwhile: ${dp.counters.odpHeldBatches}`)
  t.ok(dp.counters.trainsHandedOver >= 1, 'some trains were handed over (and came back)')

  // The lane is the worker's again: the next batches run there, no fault.
  const tasks = dp.counters.tasks
  const before = dp.counters.odpHandbacks
  for (let i = 0; i < 3; i++) batch(false)
  while (dp.depth > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5))
  t.equal(dp.counters.tasks - tasks, 3, 'three more tasks ran in the worker')
  t.equal(dp.counters.odpHandbacks, before, 'with nothing handed back')
  t.same(order.slice(-3), [BATCHES + 2, BATCHES + 3, BATCHES + 4])
  t.equal(mem.oracle.report().corruptBytes, 0)
})
