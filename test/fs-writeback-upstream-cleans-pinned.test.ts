import t from 'tap'
import { ServerMemory } from '../src/memory/index.ts'

// writebackMode 'upstream' (the default) mirrors mm/page-writeback.c:
// write_cache_pages() -> folio_clear_dirty_for_io() -> folio_mkclean() cleans
// a pinned page-cache page like any other and writes it. The NIC then stores
// into a clean page (seed 001's hazard): nothing dirties it again, so fsync
// writes nothing, and the stores are gone after a crash and reopen.
const opts = { deviceBytes: 64 * 4096, ramBytes: 16 * 4096 }

t.test('fs - upstream writeback cleans a pinned page (folio_mkclean); DMA after it is lost at restart', async (t) => {
  const dataDir = t.testdir()
  {
    const mem = new ServerMemory({ dataDir, ...opts })
    t.equal(mem.fs.writebackMode, 'upstream', 'the default mode is Linux\'s')
    const { fs, pins, phys, dax } = mem
    const ino = fs.create('c')
    fs.write(ino, 0, new Uint8Array(4096).fill(1))
    fs.fsync(ino)
    const [frame] = fs.mapRange(ino, 0, 4096)
    const block = fs.blockOf(ino, 0)
    pins.pinUserPages([frame!], { owner: 'mr', longterm: true, write: true })
    phys.frameView(frame!).fill(0x55, 0, 100)
    t.equal(phys.isDirty(frame!), true, 'the write pin dirtied the page')

    // Periodic writeback (dirty expiry) writes and cleans the pinned page.
    t.same(fs.writeback(Date.now() + 1e9), { written: 1, bounced: 0, skippedPinned: 0 }, 'written, not skipped')
    t.equal(phys.isDirty(frame!), false, 'cleaned while pinned')
    t.equal(dax.frameView(block)[0], 0x55, 'what was there is on the device')
    t.equal(fs.stats().mkcleanPinned, 1, 'cleaning a pinned page is counted (the hazard)')

    // The NIC writes into the clean page: no fault, no re-dirty.
    phys.frameView(frame!).fill(0x77, 0, 100)
    t.equal(phys.isDirty(frame!), false, 'DMA does not dirty the page')
    t.same(fs.fsync(ino), { written: 0, bounced: 0, skippedPinned: 0 }, 'fsync succeeds and writes nothing')
    t.equal(fs.stats().fsyncIncomplete, 0, 'and does not even know it is incomplete')
    t.equal(fs.dropCaches(), 0, 'drop_caches cannot evict the pinned page (still readable from RAM)')
    t.equal(fs.read(ino, 0, 1)[0], 0x77, 'the page cache still has the DMA data')
    t.equal(dax.frameView(block)[0], 0x55, 'the device does not')
    mem.close() // kill -9: nothing more is written
  }
  const mem2 = new ServerMemory({ dataDir, ...opts })
  t.teardown(() => mem2.close())
  const ino = mem2.fs.lookup('c')
  t.equal(mem2.fs.read(ino, 0, 1)[0], 0x55, 'after the restart the DMA data is lost')
})
