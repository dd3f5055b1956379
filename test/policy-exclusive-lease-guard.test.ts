import t from 'tap'
import { LayoutPolicy, ServerMemory } from '../src/memory/index.ts'
import { ErrorCodes } from '../src/errors.ts'

// Policy exclusive-lease, where the June 2019 thread converged (seed 002; the
// lease code of fs/locks.c has no lease a timeout cannot break, so this is a
// new kind): while the file's exclusive layout lease is held, truncate and
// punch fail with ETXTBSY, pinned or not, and nothing is broken or waited
// for. Without a lease the change behaves as upstream's (DAX: waits for the
// pins). An unlink cannot fail: the pinned blocks stay with the dead file.
const PAGE = 4096

t.test('policy exclusive-lease - truncate and punch fail ETXTBSY while the lease is held, never break it; without it they wait as upstream', async (t) => {
  const mem = new ServerMemory({ dataDir: t.testdir(), deviceBytes: 64 * PAGE, ramBytes: 16 * PAGE })
  t.teardown(() => mem.close())
  let leased = true
  let breaks = 0
  const p = new LayoutPolicy('exclusive-lease', { pins: mem.pins, leaseHeld: () => leased, breakLease: () => { breaks++; return null } })
  const { fs, pins } = mem
  fs.setLayoutGuard(p.guard)
  const ino = fs.create('f', { dax: true })
  fs.write(ino, 0, new Uint8Array(4 * PAGE).fill(1))
  const frames = fs.mapRange(ino, 0, 4 * PAGE)
  pins.pinUserPages(frames.slice(2), { owner: 'mr', longterm: true, write: true })

  await t.rejects(fs.truncate(ino, PAGE), { code: ErrorCodes.ETXTBSY }, 'truncate over the lease: ETXTBSY')
  await t.rejects(fs.fallocate(ino, 0x03, 0, PAGE), { code: ErrorCodes.ETXTBSY }, 'punch over an unpinned page of the leased file: ETXTBSY too')
  t.same([fs.stat(ino).size, fs.stat(ino).blocks], [4 * PAGE, 4], 'nothing changed')
  t.same([p.counters.layoutFailed, p.counters.layoutWaited, breaks], [2, 0, 0], 'two refusals, no wait, no lease break')

  leased = false // the lease is gone (say its holder left the fabric) while pins remain
  let done = false
  const truncating = fs.truncate(ino, PAGE).then(() => { done = true })
  await new Promise((r) => setTimeout(r, 30))
  t.equal(done, false, 'no lease: the DAX truncate waits for the pins (dax_layout_busy_page_range)')
  pins.releaseOwner('mr')
  await truncating
  t.equal(fs.stat(ino).size, PAGE, 'then completes')
  t.equal(p.counters.layoutWaited, 1)
})

t.test('policy exclusive-lease - an unlink under the lease keeps the pinned blocks until unpinned', async (t) => {
  const mem = new ServerMemory({ dataDir: t.testdir(), deviceBytes: 64 * PAGE, ramBytes: 16 * PAGE })
  t.teardown(() => mem.close())
  const p = new LayoutPolicy('exclusive-lease', { pins: mem.pins, leaseHeld: () => true })
  const { fs, pins } = mem
  fs.setLayoutGuard(p.guard)
  const ino = fs.create('f', { dax: true })
  fs.write(ino, 0, new Uint8Array(2 * PAGE).fill(1))
  const frames = fs.mapRange(ino, 0, 2 * PAGE)
  pins.pinUserPages(frames.slice(1), { owner: 'mr', longterm: true })
  const free0 = fs.freeBlocks()
  await fs.unlink('f')
  t.equal(fs.freeBlocks(), free0 + 1, 'the unpinned block is freed')
  t.equal(p.counters.blocksKept, 1, 'the pinned one is kept')
  pins.releaseOwner('mr')
  t.equal(fs.freeBlocks(), free0 + 2, 'freed at the last unpin')
})
