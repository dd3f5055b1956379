import t, { type Test } from 'tap'
import { LayoutPolicy, ServerMemory, type MmuEvent } from '../src/memory/index.ts'
import { ErrorCodes } from '../src/errors.ts'

// fs/dax.c dax_layout_busy_page_range(), as xfs_break_dax_layouts() uses it:
// the range is unmapped first (unmap_mapping_pages), then the truncate waits
// while any page is not idle: any reference beyond the mapping's own, a pin
// or a plain get_page(). The wait is TASK_INTERRUPTIBLE: a signal ends it
// with EINTR and the file is unchanged.
const PAGE = 4096

function make(t: Test) {
  const mem = new ServerMemory({ dataDir: t.testdir(), deviceBytes: 64 * PAGE, ramBytes: 16 * PAGE })
  t.teardown(() => mem.close())
  const p = new LayoutPolicy('upstream', { pins: mem.pins })
  const { fs } = mem
  fs.setLayoutGuard(p.guard)
  const events: Array<[MmuEvent, number]> = []
  fs.setMmuNotifier((_ino, start, _end, ev) => events.push([ev, start]))
  const ino = fs.create('f', { dax: true })
  fs.write(ino, 0, new Uint8Array(4 * PAGE).fill(1))
  const frames = fs.mapRange(ino, 0, 4 * PAGE)
  return { mem, fs, p, ino, frames, events, pins: mem.pins }
}
const tick = (ms = 30) => new Promise((r) => setTimeout(r, ms))

t.test('dax truncate - waits for a plain page reference, not only a pin, after unmapping the range (dax_layout_busy_page_range)', async (t) => {
  const { fs, p, ino, frames, events, pins } = make(t)
  pins.getPages([frames[3]!]) // get_page(): no pin
  t.equal(pins.isPinned(frames[3]!), false, 'not a pin')
  t.equal(pins.refcount(frames[3]!), 1, 'but the page is not idle')
  let done = false
  const truncating = fs.truncate(ino, PAGE).then(() => { done = true })
  t.same(events, [['truncate', 1]], 'the range is unmapped before the wait')
  t.equal(fs.stats().unmappedBeforeWait, 1)
  await tick()
  t.equal(done, false, 'the truncate waits for the reference')
  t.equal(p.counters.layoutWaiting, 1)
  t.equal(fs.stat(ino).size, 4 * PAGE, 'nothing changed yet')
  pins.putPages([frames[3]!])
  await truncating
  t.equal(fs.stat(ino).size, PAGE, 'put_page: the truncate completes')
  t.same([p.counters.layoutWaited, p.counters.layoutWaiting], [1, 0])
})

t.test('dax truncate - a waiting truncate is interrupted with EINTR and changes nothing', async (t) => {
  const { fs, p, ino, frames, pins } = make(t)
  pins.pinUserPages([frames[2]!], { owner: 'dio' })
  const c = new AbortController()
  const truncating = fs.truncate(ino, PAGE, { signal: c.signal })
  await tick()
  c.abort()
  await t.rejects(truncating, { code: ErrorCodes.EINTR }, 'EINTR')
  t.same([fs.stat(ino).size, fs.stat(ino).blocks], [4 * PAGE, 4], 'the file is unchanged')
  t.same([p.counters.layoutInterrupted, p.counters.layoutWaiting], [1, 0], 'counted; no longer waiting')
  const pre = new AbortController()
  pre.abort()
  await t.rejects(fs.fallocate(ino, 0x03, 2 * PAGE, PAGE, { signal: pre.signal }), { code: ErrorCodes.EINTR }, 'a punch with a pending signal: EINTR at once')
  pins.releaseOwner('dio')
  await fs.truncate(ino, PAGE)
  t.equal(fs.stat(ino).size, PAGE, 'without the pin the truncate goes through')
})

t.test('dax truncate - pin policies see pins only: deny lets a truncate over a plain reference through', async (t) => {
  const mem = new ServerMemory({ dataDir: t.testdir(), deviceBytes: 64 * PAGE, ramBytes: 16 * PAGE })
  t.teardown(() => mem.close())
  mem.fs.setLayoutGuard(new LayoutPolicy('deny', { pins: mem.pins }).guard)
  const ino = mem.fs.create('f', { dax: true })
  mem.fs.write(ino, 0, new Uint8Array(2 * PAGE).fill(1))
  const frames = mem.fs.mapRange(ino, 0, 2 * PAGE)
  mem.pins.getPages([frames[1]!])
  await mem.fs.truncate(ino, PAGE)
  t.equal(mem.fs.stat(ino).size, PAGE, 'deny: page_maybe_dma_pinned() is false, so no ETXTBSY')
  t.throws(() => mem.pins.putPages([frames[0]!]), { code: ErrorCodes.EINVAL }, 'put_page without a reference: EINVAL')
})
