import t from 'tap'
import { Worker } from 'node:worker_threads'
import * as path from 'node:path'
import { readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { ServerMemory } from '../src/memory/index.ts'

const memoryIndex = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/memory/index.ts')

t.test('memory - a worker rebuilds views over the same shared memory', async (t) => {
  const dir = t.testdir()
  const mem = new ServerMemory({ dataDir: path.join(dir, 'data'), deviceBytes: 64 * 4096, ramBytes: 16 * 4096 })
  t.teardown(() => mem.close())
  const { fs, pins } = mem
  const a = fs.create('a', { dax: true })
  await fs.fallocate(a, 0, 0, 4096)
  const [frame] = fs.mapRange(a, 0, 4096)
  pins.pinUserPages([frame!], { owner: 'mr', longterm: true, write: true })
  await fs.truncate(a, 0) // freed under the pin ...
  const b = fs.create('b', { dax: true })
  fs.write(b, 0, new Uint8Array(1)) // ... and reused by b

  const script = path.join(dir, 'worker.ts')
  writeFileSync(script, `
import { parentPort, workerData } from 'node:worker_threads'
import { ServerMemoryView } from ${JSON.stringify(memoryIndex)}
const v = new ServerMemoryView(workerData.desc)
const f = workerData.frame
// The "data path": an RDMA WRITE of 100 bytes for the MR over file a.
const ok = v.oracle.checkDma(f, workerData.ino, 100, 'write')
v.phys.frameView(f).fill(0x77, 0, 100)
v.dax.persist(f, 0, 100)
parentPort!.postMessage({ ok, pins: v.pins.pinCount(f), pinned: v.pins.isPinned(f), owner: v.oracle.currentOwner(f) })
`)
  // Node 20 does not apply --import hooks to a worker's .ts entry: bootstrap in JS.
  const boot = path.join(dir, 'boot.mjs')
  writeFileSync(boot, `import { register } from 'tsx/esm/api'\nregister()\nawait import(${JSON.stringify(script)})\n`)
  const w = new Worker(boot, { workerData: { desc: mem.shared(), frame, ino: a } })
  const msg = await new Promise<{ ok: boolean; pins: number; pinned: boolean; owner: number }>((resolve, reject) => {
    w.once('message', resolve)
    w.once('error', reject)
  })
  await w.terminate()
  t.same(msg, { ok: false, pins: 1, pinned: true, owner: b })
  t.equal(fs.read(b, 0, 1)[0], 0x77, 'worker store is visible to the main thread')
  const r = mem.oracle.report()
  t.equal(r.corruptBytes, 100)
  t.same(r.victims, [{ victim: 'b', ino: b, bytes: 100, events: 1 }])
  const img = readFileSync(path.join(dir, 'data', 'dax.img'))
  t.equal(img[frame! * 4096 + 99], 0x77, 'the worker persisted through the shared fd')
  pins.releaseOwner('mr')
})
