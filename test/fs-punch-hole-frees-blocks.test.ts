import t from 'tap'
import { FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, ServerMemory } from '../src/memory/index.ts'
import { ErrorCodes } from '../src/errors.ts'

t.test('fs - punch hole frees exactly the punched blocks and keeps size', async (t) => {
  const mem = new ServerMemory({ dataDir: t.testdir(), deviceBytes: 64 * 4096, ramBytes: 16 * 4096 })
  t.teardown(() => mem.close())
  const { fs } = mem
  const ps = 4096
  const ino = fs.create('a', { dax: true })
  fs.write(ino, 0, new Uint8Array(6 * ps).fill(1))
  const before = [0, 1, 2, 3, 4, 5].map((p) => fs.blockOf(ino, p))
  const free0 = fs.freeBlocks()

  // From the middle of page 1 to the middle of page 4: pages 2 and 3 freed, edges zeroed.
  await fs.fallocate(ino, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, ps + 100, 3 * ps)
  t.equal(fs.stat(ino).size, 6 * ps, 'size kept')
  t.equal(fs.freeBlocks(), free0 + 2)
  t.same([0, 1, 2, 3, 4, 5].map((p) => fs.blockOf(ino, p)), [before[0], before[1], -1, -1, before[4], before[5]])
  const data = fs.read(ino, 0, 6 * ps)
  t.ok(data.subarray(0, ps + 100).every((b) => b === 1), 'before the hole untouched')
  t.ok(data.subarray(ps + 100, 4 * ps + 100).every((b) => b === 0), 'hole reads as zero')
  t.ok(data.subarray(4 * ps + 100).every((b) => b === 1), 'after the hole untouched')
  t.same(fs.extents(ino).map((e) => [e.page, e.len]), [[0, 2], [4, 2]])

  await t.rejects(fs.fallocate(ino, FALLOC_FL_PUNCH_HOLE, 0, ps), { code: ErrorCodes.EOPNOTSUPP }, 'PUNCH_HOLE needs KEEP_SIZE')
})

t.test('fs - fallocate allocates with and without KEEP_SIZE', async (t) => {
  const mem = new ServerMemory({ dataDir: t.testdir(), deviceBytes: 64 * 4096, ramBytes: 16 * 4096 })
  t.teardown(() => mem.close())
  const { fs } = mem
  const ino = fs.create('b', { dax: true })
  await fs.fallocate(ino, 0, 0, 2 * 4096)
  t.equal(fs.stat(ino).size, 2 * 4096)
  t.equal(fs.stat(ino).blocks, 2)
  await fs.fallocate(ino, FALLOC_FL_KEEP_SIZE, 2 * 4096, 4096)
  t.equal(fs.stat(ino).size, 2 * 4096, 'KEEP_SIZE does not extend')
  t.equal(fs.stat(ino).blocks, 3)
})
