import t, { type Test } from 'tap'
import { FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, ServerMemory, type LayoutInfo, type LayoutOp } from '../src/memory/index.ts'
import { ErrorCodes } from '../src/errors.ts'

const make = (t: Test, dax = true) => {
  const mem = new ServerMemory({ dataDir: t.testdir(), deviceBytes: 64 * 4096, ramBytes: 16 * 4096 })
  t.teardown(() => mem.close())
  const ino = mem.fs.create('f', { dax })
  mem.fs.write(ino, 0, new Uint8Array(4 * 4096).fill(3))
  return { mem, fs: mem.fs, pins: mem.pins, ino }
}

t.test('fs - layout guard is called with the frames to be freed', async (t) => {
  const { fs, ino } = make(t)
  const blocks = [0, 1, 2, 3].map((p) => fs.blockOf(ino, p))
  const calls: Array<[number, number[], LayoutOp, LayoutInfo]> = []
  fs.setLayoutGuard((i, frames, op, info) => { calls.push([i, [...frames], op, info]); return 'proceed' })
  await fs.truncate(ino, 4096 + 1)
  await fs.fallocate(ino, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 4096)
  await fs.truncate(ino, 10 * 4096) // growing frees nothing: no call
  t.equal(calls.length, 2)
  t.same(calls[0]!.slice(0, 3), [ino, [blocks[2], blocks[3]], 'truncate'])
  t.match(calls[0]![3], { startPage: 2, oldSize: 4 * 4096, newSize: 4097, blocks: [blocks[2], blocks[3]], cacheFrames: [] })
  t.same(calls[1]!.slice(0, 3), [ino, [blocks[0]], 'punch'])
})

t.test('fs - an error decision fails the operation and changes nothing', async (t) => {
  const { fs, ino } = make(t)
  fs.setLayoutGuard(() => ({ error: ErrorCodes.ETXTBSY }))
  await t.rejects(fs.truncate(ino, 0), { code: ErrorCodes.ETXTBSY })
  await t.rejects(fs.fallocate(ino, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 4096), { code: ErrorCodes.ETXTBSY })
  t.equal(fs.stat(ino).size, 4 * 4096)
  t.equal(fs.stat(ino).blocks, 4)
})

t.test('fs - keep: pinned blocks stay owned until the last unpin', async (t) => {
  const { mem, fs, pins, ino } = make(t)
  const pinned = fs.blockOf(ino, 3)
  const unpinned = fs.blockOf(ino, 2)
  pins.pinUserPages([pinned], { owner: 'mr', longterm: true })
  fs.setLayoutGuard(() => 'keep')
  const free0 = fs.freeBlocks()
  await fs.truncate(ino, 2 * 4096)
  t.equal(fs.stat(ino).size, 2 * 4096, 'size shrinks at once')
  t.equal(fs.freeBlocks(), free0 + 1, 'only the unpinned block was freed')
  t.same(fs.retainedBlocks(ino), [pinned])
  t.equal(mem.oracle.currentOwner(pinned), ino)
  t.equal(mem.oracle.currentOwner(unpinned), 0)
  t.equal(mem.oracle.checkDma(pinned, ino, 8, 'write'), true, 'RDMA writes land harmlessly')
  t.notOk(fs.read(ino, 0, 10 * 4096).length > 2 * 4096, 'retained block is not visible')
  pins.unpinUserPages([pinned], 'mr')
  t.same(fs.retainedBlocks(ino), [])
  t.equal(fs.freeBlocks(), free0 + 2)
  t.equal(mem.oracle.currentOwner(pinned), 0)
})

t.test('fs - an async guard delays the truncate until it resolves', async (t) => {
  const { mem, fs, pins, ino } = make(t)
  const frame = fs.blockOf(ino, 3)
  pins.pinUserPages([frame], { owner: 'mr', longterm: true })
  // An "upstream"-style guard: wait until the frames are unpinned.
  fs.setLayoutGuard((_i, frames) => new Promise((resolve) => {
    if (!pins.anyPinned(frames)) return resolve('proceed')
    const off = pins.onUnpinned(() => { if (!pins.anyPinned(frames)) { off(); resolve('proceed') } })
  }))
  let done = false
  const p = fs.truncate(ino, 0).then(() => { done = true })
  await new Promise((r) => setTimeout(r, 20))
  t.equal(done, false, 'truncate waits while pinned')
  t.equal(fs.stat(ino).size, 4 * 4096)
  t.equal(mem.oracle.currentOwner(frame), ino)
  pins.releaseOwner('mr')
  await p
  t.equal(done, true)
  t.equal(fs.stat(ino).size, 0)
  t.equal(mem.oracle.currentOwner(frame), 0)
})

t.test('fs - page-cached truncate under a pin orphans the page, freed at unpin', async (t) => {
  const { mem, fs, pins, ino } = make(t, false)
  const [cache] = fs.mapRange(ino, 3 * 4096, 4096)
  const seen: number[][] = []
  fs.setLayoutGuard((_i, frames, _op, info) => { seen.push([...frames], info.cacheFrames); return 'proceed' })
  pins.pinUserPages([cache!], { owner: 'mr', longterm: true, write: true })
  await fs.truncate(ino, 3 * 4096)
  t.ok(seen[0]!.includes(cache!), 'guard sees the page-cache frame')
  t.same(seen[1], [cache])
  t.equal(mem.oracle.currentOwner(cache!), -2, 'orphan')
  t.equal(mem.phys.isAllocated(cache!), true, 'the pin keeps the page alive')
  pins.releaseOwner('mr')
  t.equal(mem.phys.isAllocated(cache!), false)
  t.equal(fs.stats().orphansReleased, 1)
})

t.test('fs - unlink of an open file waits for the last close', async (t) => {
  const { fs, ino } = make(t)
  const ops: LayoutOp[] = []
  fs.setLayoutGuard((_i, _f, op) => { ops.push(op); return 'proceed' })
  const free0 = fs.freeBlocks()
  t.equal(fs.open('f'), ino)
  await fs.unlink('f')
  t.same(fs.list(), [])
  t.equal(fs.freeBlocks(), free0)
  await fs.close(ino)
  t.equal(fs.freeBlocks(), free0 + 4)
  t.same(ops, ['unlink'])
})

t.test('fs - with a synchronous guard the truncate is applied before the first await', async (t) => {
  const { fs, ino } = make(t)
  const p = fs.truncate(ino, 0)
  t.equal(fs.stat(ino).size, 0)
  t.equal(fs.stat(ino).blocks, 0)
  await p
})
