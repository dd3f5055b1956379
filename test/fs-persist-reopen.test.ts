import t from 'tap'
import { ServerMemory } from '../src/memory/index.ts'

const opts = { deviceBytes: 64 * 4096, ramBytes: 16 * 4096 }

t.test('fs - reopen restores fsynced data and metadata, not unsynced changes', async (t) => {
  const dataDir = t.testdir()
  const bytes = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * seed + 3) & 0xff)
  {
    const mem = new ServerMemory({ dataDir, ...opts })
    const { fs } = mem
    const d = fs.create('dax-file', { dax: true })
    fs.write(d, 0, bytes(3 * 4096 + 5, 7))
    const c = fs.create('cached-file', { dax: false })
    fs.write(c, 100, bytes(5000, 13))
    fs.fsync(d)
    fs.fsync(c)
    // Not fsynced: a new file and RDMA-style stores straight into the arena.
    fs.create('never-synced', { dax: true })
    mem.phys.frameView(fs.blockOf(d, 0)).fill(0xee, 0, 16)
    // Simulated kill -9: no close, no sync; drop the instance and reopen.
    mem.close() // closes the fd only: persists nothing
  }
  const mem2 = new ServerMemory({ dataDir, ...opts })
  t.teardown(() => mem2.close())
  const { fs } = mem2
  t.same(fs.list(), ['cached-file', 'dax-file'])
  const d = fs.lookup('dax-file')
  t.equal(fs.stat(d).size, 3 * 4096 + 5)
  t.equal(fs.stat(d).dax, true)
  t.same(fs.read(d, 0, 3 * 4096 + 5), bytes(3 * 4096 + 5, 7), 'DAX data back; unflushed stores lost')
  const c = fs.lookup('cached-file')
  t.equal(fs.stat(c).size, 5100)
  t.same(fs.read(c, 100, 5000), bytes(5000, 13))
  t.ok(fs.read(c, 0, 100).every((b) => b === 0))
  // Allocator state came back: new allocations do not collide with live blocks.
  const e = fs.create('new', { dax: true })
  fs.write(e, 0, new Uint8Array(4096).fill(1))
  const live = new Set([...fs.extents(d), ...fs.extents(c)].flatMap((x) => Array.from({ length: x.len }, (_, i) => x.block + i)))
  t.notOk(live.has(fs.blockOf(e, 0)))
  t.equal(fs.freeBlocks(), 64 - live.size - 1)
  // Inode numbers are not reused after restart.
  t.ok(e > Math.max(d, c))
})
