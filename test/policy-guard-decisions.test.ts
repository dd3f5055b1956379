import t, { type Test } from 'tap'
import { LayoutPolicy, ServerMemory, type Policy } from '../src/memory/index.ts'
import { ErrorCodes } from '../src/errors.ts'

// The layout guard and registration rule of each policy, on the memory model
// alone (no cluster): what a truncate does to pinned pages, and which
// long-term pins are refused with which errno.
const PAGE = 4096

function make(t: Test, policy: Policy, o: { dax?: boolean; breakLease?: ConstructorParameters<typeof LayoutPolicy>[1]['breakLease'] } = {}) {
  const mem = new ServerMemory({ dataDir: t.testdir(), deviceBytes: 64 * PAGE, ramBytes: 16 * PAGE })
  t.teardown(() => mem.close())
  const p = new LayoutPolicy(policy, { pins: mem.pins, breakLease: o.breakLease })
  mem.fs.setLayoutGuard(p.guard)
  const ino = mem.fs.create('f', { dax: o.dax ?? true })
  mem.fs.write(ino, 0, new Uint8Array(4 * PAGE).fill(1))
  const frames = mem.fs.mapRange(ino, 0, 4 * PAGE)
  mem.pins.pinUserPages(frames.slice(2), { owner: 'mr', longterm: true, write: true })
  return { mem, fs: mem.fs, pins: mem.pins, p, ino, frames }
}

t.test('policy guard - unsafe-gup frees pinned blocks at once', async (t) => {
  const { fs, p, ino, frames, mem } = make(t, 'unsafe-gup')
  const free0 = fs.freeBlocks()
  await fs.truncate(ino, PAGE)
  t.equal(fs.freeBlocks(), free0 + 3, 'all three freed, pinned or not')
  t.equal(mem.oracle.currentOwner(frames[3]!), 0, 'the pinned block is free')
  t.same([p.counters.layoutWaited, p.counters.layoutFailed, p.counters.blocksKept], [0, 0, 0])
})

t.test('policy guard - deny: ETXTBSY over pinned pages, proceed elsewhere; an unlink keeps them', async (t) => {
  const { fs, p, ino, pins } = make(t, 'deny')
  await t.rejects(fs.truncate(ino, PAGE), { code: ErrorCodes.ETXTBSY })
  await t.rejects(fs.fallocate(ino, 3, 3 * PAGE, PAGE), { code: ErrorCodes.ETXTBSY }, 'punch over a pinned page')
  await fs.fallocate(ino, 3, 0, PAGE) // punch over an unpinned page
  t.equal(fs.stat(ino).blocks, 3, 'the unpinned page was punched')
  t.equal(p.counters.layoutFailed, 2)
  const free0 = fs.freeBlocks()
  await fs.unlink('f')
  t.equal(fs.freeBlocks(), free0 + 1, 'unlink freed the unpinned block')
  t.equal(p.counters.blocksKept, 2, 'and kept the two pinned ones')
  pins.releaseOwner('mr')
  t.equal(fs.freeBlocks(), free0 + 3, 'freed at the last unpin')
})

t.test('policy guard - truncate-extend keeps pinned blocks with the file', async (t) => {
  const { fs, p, ino, pins, mem, frames } = make(t, 'truncate-extend')
  const free0 = fs.freeBlocks()
  await fs.truncate(ino, PAGE)
  t.equal(fs.stat(ino).size, PAGE)
  t.same(fs.retainedBlocks(ino).sort(), frames.slice(2).sort())
  t.equal(fs.freeBlocks(), free0 + 1, 'only the unpinned block freed')
  t.equal(mem.oracle.currentOwner(frames[3]!), ino, 'a retained block is still the file\'s')
  t.equal(p.counters.blocksKept, 2)
  pins.releaseOwner('mr')
  t.equal(fs.freeBlocks(), free0 + 3)
})

t.test('policy guard - upstream and odp wait for pinned DAX blocks, with no timeout', async (t) => {
  for (const policy of ['upstream', 'odp'] as const) {
    const { fs, p, ino, pins } = make(t, policy)
    let done = false
    const truncating = fs.truncate(ino, PAGE).then(() => { done = true })
    await new Promise((r) => setTimeout(r, 30))
    t.equal(done, false, `${policy}: waiting while pinned`)
    t.equal(p.counters.layoutWaiting, 1)
    pins.releaseOwner('mr')
    await truncating
    t.equal(fs.stat(ino).size, PAGE, `${policy}: done once unpinned`)
    t.same([p.counters.layoutWaited, p.counters.layoutWaiting], [1, 0])
    t.ok(p.counters.layoutWaitMs >= 20)
  }
})

t.test('policy guard - upstream: a pinned page-cache page leaves the file at once (orphaned, as Linux)', async (t) => {
  const mem = new ServerMemory({ dataDir: t.testdir(), deviceBytes: 64 * PAGE, ramBytes: 16 * PAGE })
  t.teardown(() => mem.close())
  const p = new LayoutPolicy('upstream', { pins: mem.pins })
  mem.fs.setLayoutGuard(p.guard)
  const ino = mem.fs.create('c')
  mem.fs.write(ino, 0, new Uint8Array(2 * PAGE).fill(1))
  const [, f] = mem.fs.mapRange(ino, 0, 2 * PAGE)
  mem.pins.pinUserPages([f!], { owner: 'ro', longterm: true })
  await mem.fs.truncate(ino, PAGE)
  t.equal(mem.oracle.currentOwner(f!), -2, 'orphan')
  t.equal(p.counters.layoutWaited, 0)
  mem.pins.releaseOwner('ro')
})

t.test('policy guard - layout-lease waits for the lease break, then for any pin left', async (t) => {
  let end!: () => void
  const breaks: string[] = []
  const { fs, p, ino, pins } = make(t, 'layout-lease', {
    breakLease: (_ino, op) => {
      breaks.push(op)
      return new Promise<void>((r) => (end = r))
    },
  })
  let done = false
  const truncating = fs.truncate(ino, PAGE).then(() => { done = true })
  await new Promise((r) => setTimeout(r, 20))
  t.same(breaks, ['truncate'], 'the lease is broken')
  pins.releaseOwner('mr') // the holder deregisters ...
  await new Promise((r) => setTimeout(r, 20))
  t.equal(done, false, '... but the truncate waits for the lease itself')
  end()
  await truncating
  t.equal(fs.stat(ino).size, PAGE)
  t.equal(p.counters.layoutWaited, 1)
})

t.test('policy - long-term pin rules at registration', async (t) => {
  const mem = new ServerMemory({ dataDir: t.testdir(), deviceBytes: 64 * PAGE, ramBytes: 16 * PAGE })
  t.teardown(() => mem.close())
  const check = (policy: Policy, r: { dax: boolean; write: boolean; shared?: boolean; lease?: 'held' | 'none' | 'other' | 'breaking' }) => {
    const p = new LayoutPolicy(policy, { pins: mem.pins })
    try {
      p.checkLongTermPin({ file: 'f', lease: 'none', ...r })
      return 'ok'
    } catch (err) {
      return (err as { code: string }).code
    }
  }
  t.equal(check('upstream', { dax: true, write: false }), ErrorCodes.EOPNOTSUPP)
  t.equal(check('upstream', { dax: false, write: true }), ErrorCodes.EFAULT)
  t.equal(check('upstream', { dax: false, write: false }), 'ok')
  t.equal(check('upstream', { dax: false, write: true, shared: true }), ErrorCodes.EFAULT, 'shared + writable: vma_needs_dirty_tracking')
  t.equal(check('upstream', { dax: false, write: true, shared: false }), 'ok', 'MAP_PRIVATE: no dirty tracking, allowed')
  t.equal(check('upstream', { dax: true, write: true, shared: false }), ErrorCodes.EOPNOTSUPP, 'DAX first, whatever the mapping')
  t.equal(check('exclusive-lease', { dax: true, write: true, lease: 'held' }), 'ok')
  t.equal(check('exclusive-lease', { dax: true, write: true, lease: 'none' }), ErrorCodes.EACCES)
  t.equal(new LayoutPolicy('exclusive-lease', { pins: mem.pins }).needsLease, true)
  for (const policy of ['unsafe-gup', 'deny', 'truncate-extend', 'odp'] as const) t.equal(check(policy, { dax: true, write: true }), 'ok', `${policy} allows it`)
  t.equal(check('layout-lease', { dax: true, write: true, lease: 'held' }), 'ok')
  t.equal(check('layout-lease', { dax: false, write: false, lease: 'none' }), ErrorCodes.EACCES)
  t.equal(check('layout-lease', { dax: true, write: true, lease: 'other' }), ErrorCodes.EACCES)
  t.equal(check('layout-lease', { dax: true, write: true, lease: 'breaking' }), ErrorCodes.EAGAIN)
  t.equal(new LayoutPolicy('odp', { pins: mem.pins }).forcesOdp, true)
  t.equal(new LayoutPolicy('layout-lease', { pins: mem.pins }).needsLease, true)
})
