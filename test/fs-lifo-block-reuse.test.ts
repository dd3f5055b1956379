import t from 'tap'
import { ServerMemory } from '../src/memory/index.ts'

t.test('fs - the block freed from file A is handed to file B next', async (t) => {
  const mem = new ServerMemory({ dataDir: t.testdir(), deviceBytes: 64 * 4096, ramBytes: 16 * 4096 })
  t.teardown(() => mem.close())
  const { fs } = mem
  const a = fs.create('a', { dax: true })
  fs.write(a, 0, new Uint8Array(4 * 4096).fill(0xaa))
  const other = fs.create('other', { dax: true })
  fs.write(other, 0, new Uint8Array(4096).fill(1))
  const victimBlock = fs.blockOf(a, 3)
  await fs.truncate(a, 3 * 4096)
  t.equal(fs.peekFreeBlock(), victimBlock, 'freed block is on top of the free stack')

  const b = fs.create('b', { dax: true })
  fs.write(b, 0, new Uint8Array(10).fill(0xbb))
  t.equal(fs.blockOf(b, 0), victimBlock, 'B got the very block A just freed')
  t.same([...fs.read(b, 0, 4096 * 2)], [...new Uint8Array(10).fill(0xbb)], 'reused block is zeroed, size is 10')
  t.equal(mem.oracle.currentOwner(victimBlock), b)
  t.same(mem.oracle.historyOf(victimBlock).map((h) => h.to), [a, 0, b])
})
