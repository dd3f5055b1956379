import t from 'tap'
import { ServerMemory } from '../src/memory/index.ts'

t.test('fs - writeback writes pages dirty for longer than dirtyExpireMs', async (t) => {
  let now = 1000
  const mem = new ServerMemory({ dataDir: t.testdir(), deviceBytes: 64 * 4096, ramBytes: 16 * 4096, dirtyExpireMs: 50, clock: () => now })
  t.teardown(() => mem.close())
  const { fs, dax } = mem
  const ino = fs.create('c')
  fs.write(ino, 0, new Uint8Array(4096).fill(1))
  now = 1030
  fs.write(ino, 4096, new Uint8Array(4096).fill(2))
  t.equal(fs.dirtyPages(), 2)
  const b0 = fs.blockOf(ino, 0)
  const b1 = fs.blockOf(ino, 1)
  t.ok(dax.frameView(b0).every((b) => b === 0), 'device block not written yet')

  now = 1049
  t.same(fs.writeback(now), { written: 0, bounced: 0, skippedPinned: 0 }, 'nothing expired yet')
  now = 1050
  t.same(fs.writeback(now), { written: 1, bounced: 0, skippedPinned: 0 }, 'first page expired')
  t.ok(dax.frameView(b0).every((b) => b === 1))
  t.ok(dax.frameView(b1).every((b) => b === 0))
  t.equal(fs.dirtyPages(), 1)
  now = 1080
  t.equal(fs.writeback(now).written, 1)
  t.ok(dax.frameView(b1).every((b) => b === 2))
  t.equal(fs.dirtyPages(), 0)
  t.equal(fs.stats().writebackPages, 2)
})

t.test('fs - the periodic writeback timer cleans expired pages', async (t) => {
  const mem = new ServerMemory({ dataDir: t.testdir(), deviceBytes: 64 * 4096, ramBytes: 16 * 4096, dirtyExpireMs: 5, writebackIntervalMs: 10 })
  t.teardown(() => mem.close())
  const ino = mem.fs.create('c')
  mem.fs.write(ino, 0, new Uint8Array(100).fill(9))
  t.equal(mem.fs.dirtyPages(), 1)
  const deadline = Date.now() + 2000
  while (mem.fs.dirtyPages() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
  t.equal(mem.fs.dirtyPages(), 0)
  t.equal(mem.dax.frameView(mem.fs.blockOf(ino, 0))[99], 9)
})

t.test('fs - pageMkclean clears dirty and reports it', async (t) => {
  const mem = new ServerMemory({ dataDir: t.testdir(), deviceBytes: 64 * 4096, ramBytes: 16 * 4096 })
  t.teardown(() => mem.close())
  const ino = mem.fs.create('c')
  mem.fs.write(ino, 0, new Uint8Array(1).fill(9))
  const f = mem.fs.cacheFrameOf(ino, 0)
  t.equal(mem.fs.pageMkclean(f), true)
  t.equal(mem.fs.pageMkclean(f), false)
  t.equal(mem.fs.dirtyPages(), 0)
})
