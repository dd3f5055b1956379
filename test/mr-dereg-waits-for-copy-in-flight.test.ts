import t from 'tap'
import { Worker } from 'node:worker_threads'
import { ContiguousMemory } from '../src/memory/region-memory.ts'
import { enterMr, MrTable, MrWord } from '../src/memory/stag.ts'
import { Access } from '../src/verbs/constants.ts'

// A deregistration must not release an MR's memory while a data-path worker
// is still copying through it (rxe holds an MR reference per packet): it waits
// until the copy has left the MR, and later operations see it dead.
t.test('mr - deregistration waits for an operation in flight in another thread', async (t) => {
  const mrs = new MrTable()
  const mr = mrs.register(1, new ContiguousMemory(new Uint8Array(4096)), Access.LOCAL_WRITE | Access.REMOTE_WRITE)
  // A worker thread enters the MR (as execute-batch does), says so, holds it 300 ms, leaves.
  const worker = new Worker(`
    const { parentPort, workerData } = require('node:worker_threads')
    const live = workerData
    Atomics.add(live, ${MrWord.USERS}, 1)
    parentPort.postMessage('in')
    const until = Date.now() + 300
    while (Date.now() < until) {}
    if (Atomics.sub(live, ${MrWord.USERS}, 1) === 1) Atomics.notify(live, ${MrWord.USERS})
  `, { eval: true, workerData: mr.live })
  t.teardown(() => worker.terminate())
  await new Promise((r) => worker.once('message', r))
  const t0 = performance.now()
  mrs.deregister(mr)
  const waited = performance.now() - t0
  t.ok(waited >= 200, `deregistration waited for the copy to leave the MR (${waited.toFixed(0)} ms)`)
  t.equal(Atomics.load(mr.live, MrWord.USERS), 0, 'nobody uses it afterwards')
  t.equal(enterMr(mr.live), false, 'a later operation finds it dead')
  t.equal(Atomics.load(mr.live, MrWord.USERS), 0, 'and holds nothing')
})

t.test('mr - deregistration of an idle MR does not wait', async (t) => {
  const mrs = new MrTable()
  const mr = mrs.register(1, new ContiguousMemory(new Uint8Array(4096)), Access.LOCAL_WRITE)
  const t0 = performance.now()
  mrs.deregister(mr)
  t.ok(performance.now() - t0 < 50, 'immediate')
})
