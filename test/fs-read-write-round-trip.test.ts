import t from 'tap'
import { ServerMemory } from '../src/memory/index.ts'

for (const dax of [true, false]) {
  t.test(`fs - write/read round trip (${dax ? 'DAX' : 'page-cached'})`, async (t) => {
    const mem = new ServerMemory({ dataDir: t.testdir(), deviceBytes: 64 * 4096, ramBytes: 16 * 4096 })
    t.teardown(() => mem.close())
    const { fs } = mem
    const ino = fs.create('f', { dax })
    const data = new Uint8Array(3 * 4096 + 123)
    for (let i = 0; i < data.length; i++) data[i] = (i * 31 + 7) & 0xff
    t.equal(fs.write(ino, 1000, data), data.length)
    t.equal(fs.stat(ino).size, 1000 + data.length)
    t.same(fs.read(ino, 1000, data.length), data)
    t.ok(fs.read(ino, 0, 1000).every((b) => b === 0), 'bytes before the write are zero')
    t.equal(fs.read(ino, 1000 + data.length - 10, 100).length, 10, 'read is clipped at EOF')
    if (dax) {
      t.equal(fs.stat(ino).cachedPages, 0, 'DAX has no page cache')
      const frames = fs.mapRange(ino, 0, 4096)
      t.ok(mem.phys.isDevice(frames[0]!), 'DAX maps device blocks')
    } else {
      t.equal(fs.stat(ino).dirtyPages, 4, 'page-cached write dirties pages')
      const frames = fs.mapRange(ino, 0, 4096)
      t.ok(mem.phys.isRam(frames[0]!), 'page-cached file maps page-cache frames')
    }
  })
}

t.test('fs - mapRange allocates holes only when asked and refuses past EOF', async (t) => {
  const mem = new ServerMemory({ dataDir: t.testdir(), deviceBytes: 64 * 4096, ramBytes: 16 * 4096 })
  t.teardown(() => mem.close())
  const { fs } = mem
  const ino = fs.create('f', { dax: true })
  await fs.truncate(ino, 3 * 4096)
  t.same(fs.mapRange(ino, 0, 3 * 4096), [-1, -1, -1])
  const frames = fs.mapRange(ino, 100, 4096, { allocate: true })
  t.equal(frames.length, 2)
  t.same(frames, [fs.blockOf(ino, 0), fs.blockOf(ino, 1)])
  t.throws(() => fs.mapRange(ino, 0, 4 * 4096), { code: 'ERR_EFAULT' })
})
