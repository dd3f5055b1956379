import t from 'tap'
import { OWNER_FREE, ServerMemory } from '../src/memory/index.ts'

t.test('oracle - a stale DMA into a reused block is charged to the new owner', async (t) => {
  const mem = new ServerMemory({ dataDir: t.testdir(), deviceBytes: 64 * 4096, ramBytes: 16 * 4096 })
  t.teardown(() => mem.close())
  const { fs, pins, oracle } = mem
  const a = fs.create('registered.dat', { dax: true })
  await fs.fallocate(a, 0, 0, 2 * 4096)
  // "MR" over file A: frames pinned, expected owner = A.
  const frames = fs.mapRange(a, 0, 2 * 4096)
  pins.pinUserPages(frames, { owner: 'mr1', longterm: true, write: true })
  t.ok(frames.every((f) => oracle.checkDma(f, a, 4096, 'write')), 'no corruption while A owns the blocks')

  // Free A's blocks behind the registration's back (default guard: proceed).
  await fs.truncate(a, 0)
  t.equal(oracle.checkDma(frames[1]!, a, 10, 'write'), false, 'write into a free block')

  // The most recently freed block goes to B.
  const b = fs.create('victim.dat', { dax: true })
  fs.write(b, 0, new Uint8Array(4096).fill(0xbb))
  const reused = fs.blockOf(b, 0)
  t.ok(frames.includes(reused))
  t.equal(oracle.checkDma(reused, a, 300, 'write'), false)
  t.equal(oracle.checkDma(reused, a, 200, 'atomic'), false)
  t.equal(oracle.checkDma(reused, a, 64, 'read'), false, 'a stale read is a leak, not corruption')
  t.equal(oracle.checkDma(reused, b, 4096, 'write'), true, 'B writing its own block is fine')

  const r = oracle.report()
  t.equal(r.corruptEvents, 3)
  t.equal(r.corruptBytes, 510)
  t.equal(r.fileBytes, 500)
  t.equal(r.freeBytes, 10)
  t.equal(r.leakBytes, 64)
  const victim = r.victims.find((v) => v.victim === 'victim.dat')
  t.same(victim, { victim: 'victim.dat', ino: b, bytes: 500, events: 2 })
  t.same(r.victims.find((v) => v.victim === 'free'), { victim: 'free', ino: OWNER_FREE, bytes: 10, events: 1 })

  // Attribution survives further ownership changes: B is unlinked, C reuses the block.
  await fs.unlink('victim.dat')
  const c = fs.create('later.dat', { dax: true })
  fs.write(c, 0, new Uint8Array(1))
  t.equal(oracle.report().victims.find((v) => v.victim === 'victim.dat')?.bytes, 500)
  t.equal(oracle.report().victims.find((v) => v.victim === 'later.dat'), undefined)
  t.equal(mem.stats().oracle.corruptBytes, 510)
  pins.releaseOwner('mr1')
})
