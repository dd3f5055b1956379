import t from 'tap'
import { Worker } from 'node:worker_threads'
import * as path from 'node:path'
import { writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { FrameMemory } from '../src/memory/frame-memory.ts'
import { FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, OdpRegion, OdpStatus, ServerMemory } from '../src/memory/index.ts'

// A worker thread writes into an ODP file region as fast as it can while the
// main thread punches its pages out and hands the freed blocks straight to
// another file (LIFO reuse). The MMU notifier makes the punch wait for the
// worker's copy in flight, and the worker's next copy faults: not one byte
// may land in the other file.
const PAGE = 4096
const ROUNDS = 400
const src = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src')

t.test('odp - invalidation waits out a worker copy; freed blocks are never written', async (t) => {
  const dir = t.testdir()
  const mem = new ServerMemory({ dataDir: path.join(dir, 'data'), deviceBytes: 2048 * PAGE, ramBytes: 16 * PAGE })
  t.teardown(() => mem.close())
  const { fs } = mem
  const a = fs.create('a', { dax: true })
  fs.write(a, 0, new Uint8Array(4 * PAGE))
  const victim = fs.create('victim', { dax: true })
  const fm = new FrameMemory(mem, { frames: [-1, -1, -1, -1], offset: 0, length: 4 * PAGE, expectedIno: a, odp: OdpRegion.createDesc(4, undefined, true, mem.odpCounters) })
  const region = fm.odp!
  region.majorFault = (first, last) => {
    for (let pi = first; pi <= last; pi++) if (region.backing[pi]! < 0) region.backing[pi] = fs.mapRange(a, pi * PAGE, PAGE, { allocate: true })[0]!
    return OdpStatus.OK
  }
  fs.setMmuNotifier((ino, start, end) => {
    if (ino === a) region.invalidate(start, end, { clearBacking: true })
  })
  region.prefetch(0, 3, false)

  const script = path.join(dir, 'writer.ts')
  writeFileSync(script, `
import { parentPort, workerData } from 'node:worker_threads'
import { ServerMemoryView, OdpStatus } from ${JSON.stringify(path.join(src, 'memory/index.ts'))}
import { FrameMemory } from ${JSON.stringify(path.join(src, 'memory/frame-memory.ts'))}
const view = new ServerMemoryView(workerData.memory)
const fm = FrameMemory.fromShared(view, workerData.region)
const stop = workerData.stop
const data = new Uint8Array(${PAGE}).fill(0x5a)
let copies = 0
let needMain = 0
Atomics.store(stop, 1, 1)
while (Atomics.load(stop, 0) === 0) {
  for (let p = 0; p < 4; p++) {
    if (fm.mapAndLock(p * ${PAGE}, ${PAGE}) !== OdpStatus.OK) { needMain++; continue }
    try { fm.copyIn(p * ${PAGE}, data); copies++ } finally { fm.unlock(p * ${PAGE}, ${PAGE}) }
  }
}
parentPort.postMessage({ copies, needMain })
`)
  const boot = path.join(dir, 'boot.mjs')
  writeFileSync(boot, `import { register } from 'tsx/esm/api'\nregister()\nawait import(${JSON.stringify(script)})\n`)
  const stop = new Int32Array(new SharedArrayBuffer(8))
  const w = new Worker(boot, { workerData: { memory: mem.shared(), region: fm.shared(), stop } })
  const done = new Promise<{ copies: number; needMain: number }>((resolve, reject) => {
    w.once('message', resolve)
    w.once('error', reject)
  })
  while (Atomics.load(stop, 1) === 0) await new Promise((r) => setTimeout(r, 5))

  const victimPage = new Uint8Array(PAGE).fill(0xbb)
  for (let round = 0; round < ROUNDS; round++) {
    const p = round % 4
    // Punch the page out of `a` (the notifier runs first), and give its block to `victim` at once.
    await fs.fallocate(a, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, p * PAGE, PAGE)
    fs.write(victim, round * PAGE, victimPage)
    // The worker needs the main thread to map the hole again: serve it now and then.
    if (round % 3 === 0) region.prefetch(0, 3, false)
    if (round % 50 === 0) await new Promise((r) => setImmediate(r))
  }
  Atomics.store(stop, 0, 1)
  const res = await done
  await w.terminate()
  t.ok(res.copies > 0, `the worker copied ${res.copies} pages (${res.needMain} accesses needed the main thread)`)
  const r = mem.oracle.report()
  t.equal(r.corruptBytes, 0, 'no byte landed in a block `a` no longer owned')
  const v = fs.read(victim, 0, ROUNDS * PAGE)
  t.ok(v.every((x) => x === 0xbb), 'the victim file is intact')
  const q = region.query()
  t.ok(q.pagesInvalidated > 0, `${q.pagesInvalidated} pages invalidated`)
})
