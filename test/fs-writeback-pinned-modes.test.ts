import t, { type Test } from 'tap'
import { ServerMemory, type WritebackMode } from '../src/memory/index.ts'

const setup = (t: Test, writebackMode: WritebackMode) => {
  const mem = new ServerMemory({ dataDir: t.testdir(), deviceBytes: 64 * 4096, ramBytes: 16 * 4096, writebackMode })
  t.teardown(() => mem.close())
  const { fs, pins } = mem
  const ino = fs.create('c')
  fs.write(ino, 0, new Uint8Array(4096).fill(1))
  fs.fsync(ino)
  const [frame] = fs.mapRange(ino, 0, 4096)
  pins.pinUserPages([frame!], { owner: 'mr', longterm: true, write: true })
  // The "NIC" writes into the pinned page-cache page.
  mem.phys.frameView(frame!).fill(0x55, 0, 100)
  return { mem, fs, ino, frame: frame!, block: fs.blockOf(ino, 0) }
}

t.test('fs - keep-dirty (proposal, seed 001): a pinned page is never written or cleaned', async (t) => {
  const { mem, fs, ino, frame, block } = setup(t, 'keep-dirty')
  t.equal(mem.phys.isDirty(frame), true, 'a write pin dirties the page')
  const r = fs.fsync(ino)
  t.same(r, { written: 0, bounced: 0, skippedPinned: 1 })
  t.equal(mem.phys.isDirty(frame), true, 'still dirty')
  t.equal(mem.dax.frameView(block)[0], 1, 'DMA data not on the device')
  t.equal(fs.stats().keptDirtyPinned, 1)
  t.equal(fs.stats().fsyncIncomplete, 1)
  t.equal(fs.writeback(Date.now() + 1e9).skippedPinned, 1)
  t.equal(fs.stats().keptDirtyPinned, 2)
  t.equal(fs.stats().bouncePages, 0)
  // After the unpin the page can be cleaned.
  mem.pins.unpinUserPagesDirtyLock([frame], true, 'mr')
  t.same(fs.fsync(ino), { written: 1, bounced: 0, skippedPinned: 0 })
  t.equal(mem.dax.frameView(block)[0], 0x55)
  t.equal(mem.phys.isDirty(frame), false)
})

t.test('fs - bounce (proposal, seed 001): fsync writes a snapshot while the pin stays', async (t) => {
  const { mem, fs, ino, frame, block } = setup(t, 'bounce')
  const r = fs.fsync(ino)
  t.same(r, { written: 0, bounced: 1, skippedPinned: 0 })
  t.equal(mem.dax.frameView(block)[0], 0x55, 'snapshot on the device')
  t.equal(mem.dax.frameView(block)[100], 1)
  t.equal(mem.phys.isDirty(frame), true, 'pinned page stays dirty: DMA may continue')
  // DMA continues; the next fsync bounces the new contents.
  mem.phys.frameView(frame).fill(0x66, 0, 10)
  t.equal(fs.fsync(ino).bounced, 1)
  t.equal(mem.dax.frameView(block)[0], 0x66)
  const s = fs.stats()
  t.equal(s.bouncePages, 2)
  t.equal(s.bounceBytes, 2 * 4096)
  t.equal(s.keptDirtyPinned, 0)
  t.equal(s.fsyncIncomplete, 0)
})
