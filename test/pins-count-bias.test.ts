import t from 'tap'
import { ServerMemory } from '../src/memory/index.ts'
import { ErrorCodes } from '../src/errors.ts'
import { Params } from '../src/params.ts'

t.test('pins - exact per-frame counts with the 1024 bias, acquired == released', async (t) => {
  const mem = new ServerMemory({ dataDir: t.testdir(), deviceBytes: 64 * 4096, ramBytes: 16 * 4096 })
  t.teardown(() => mem.close())
  const { pins, fs } = mem
  t.equal(pins.bias, Params.gupPinCountingBias)
  t.equal(pins.bias, 1024)
  const ino = fs.create('f', { dax: true })
  await fs.fallocate(ino, 0, 0, 4 * 4096)
  const frames = fs.mapRange(ino, 0, 4 * 4096)

  pins.pinUserPages(frames, { owner: 'mr1', longterm: true, write: true })
  pins.pinUserPages(frames.slice(1, 3), { owner: 'mr2', longterm: true })
  pins.pinUserPages([frames[2]!], { owner: 'mr2' })
  t.same(frames.map((f) => pins.pinCount(f)), [1, 2, 3, 1])
  t.same(frames.map((f) => pins.refcount(f)), [1024, 2048, 3072, 1024])
  t.ok(frames.every((f) => pins.isPinned(f)))
  t.equal(pins.isPinned(frames[3]! + 1), false)
  t.equal(pins.stats().nr_foll_pin_acquired, 7)
  t.equal(pins.stats().longterm_acquired, 6)
  t.equal(pins.ownerPins('mr2'), 3)

  t.throws(() => pins.unpinUserPagesDirtyLock([frames[0]!], false, 'mr2'), { code: ErrorCodes.EINVAL }, 'cannot drop pins another owner holds')
  t.throws(() => pins.pinUserPages([frames[0]!, -1], { owner: 'x' }), { code: ErrorCodes.EFAULT }, 'a hole cannot be pinned')
  t.equal(pins.pinCount(frames[0]!), 1, 'failed pin took nothing')

  pins.unpinUserPagesDirtyLock(frames, true, 'mr1')
  t.same(frames.map((f) => pins.pinCount(f)), [0, 1, 2, 0])
  t.equal(pins.stats().nr_foll_pin_released, 4)

  t.equal(pins.releaseOwner('mr2'), 3, 'dead owner: all its pins dropped')
  t.same(frames.map((f) => pins.refcount(f)), [0, 0, 0, 0])
  const s = pins.stats()
  t.equal(s.nr_foll_pin_acquired, s.nr_foll_pin_released)
  t.equal(s.longterm_acquired, s.longterm_released)
  t.equal(s.pinned_frames, 0)
  t.equal(pins.releaseOwner('mr2'), 0)
})

t.test('pins - unpin with makeDirty dirties page-cache pages', async (t) => {
  const mem = new ServerMemory({ dataDir: t.testdir(), deviceBytes: 64 * 4096, ramBytes: 16 * 4096 })
  t.teardown(() => mem.close())
  const { pins, fs } = mem
  const ino = fs.create('c')
  fs.write(ino, 0, new Uint8Array(4096).fill(1))
  fs.fsync(ino)
  const [f] = fs.mapRange(ino, 0, 4096)
  t.equal(mem.phys.isDirty(f!), false)
  pins.pinUserPages([f!], { owner: 1, longterm: true })
  t.equal(mem.phys.isDirty(f!), false, 'read-only pin leaves it clean')
  pins.unpinUserPagesDirtyLock([f!], true, 1)
  t.equal(mem.phys.isDirty(f!), true)
})
