import t from 'tap'
import { ServerMemory } from '../src/memory/index.ts'

t.test('fs - truncate changes extents and frees blocks', async (t) => {
  const mem = new ServerMemory({ dataDir: t.testdir(), deviceBytes: 64 * 4096, ramBytes: 16 * 4096 })
  t.teardown(() => mem.close())
  const { fs } = mem
  const ino = fs.create('a', { dax: true })
  fs.write(ino, 0, new Uint8Array(5 * 4096).fill(7))
  t.same(fs.extents(ino), [{ page: 0, block: 0, len: 5 }])
  const free0 = fs.freeBlocks()

  await fs.truncate(ino, 2 * 4096 + 100)
  t.equal(fs.stat(ino).size, 2 * 4096 + 100)
  t.same(fs.extents(ino), [{ page: 0, block: 0, len: 3 }], 'pages 3 and 4 are gone')
  t.equal(fs.freeBlocks(), free0 + 2, 'exactly two blocks freed')
  t.equal(fs.blockOf(ino, 3), -1)
  t.equal(mem.oracle.currentOwner(3), 0, 'oracle sees block 3 free')
  // The tail of the last page is zeroed.
  const tail = fs.read(ino, 2 * 4096, 100)
  t.ok(tail.every((b) => b === 7))
  await fs.truncate(ino, 3 * 4096)
  t.ok(fs.read(ino, 2 * 4096 + 100, 4096 - 100).every((b) => b === 0), 'bytes past the old EOF read back as zero')

  await fs.truncate(ino, 0)
  t.same(fs.extents(ino), [])
  t.equal(fs.freeBlocks(), free0 + 5)
  t.equal(fs.stat(ino).size, 0)
})
