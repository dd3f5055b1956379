import t, { type Test } from 'tap'
import { LayoutPolicy, ServerMemory, type TruncateExtendMode } from '../src/memory/index.ts'

// Policy truncate-extend has two readings of seed 000 option 4 (Christopher
// Lameter: "It can be thought of as if the truncate is immediate followed by
// a write extending the file again"; Ira Weiny: "I can see the behavior being
// defined either way"), chosen by the server setting truncateExtend:
// - 'retain' (default): the size shrinks; pinned blocks stay the file's,
//   invisible past EOF, until the last unpin;
// - 'extend' (the literal reading): the file grows back over the pinned
//   pages, and what RDMA wrote there stays visible; unpinned pages in between
//   are freed (holes read as zeros).
const PAGE = 4096

function make(t: Test, mode: TruncateExtendMode) {
  const mem = new ServerMemory({ dataDir: t.testdir(), deviceBytes: 64 * PAGE, ramBytes: 16 * PAGE })
  t.teardown(() => mem.close())
  const p = new LayoutPolicy('truncate-extend', { pins: mem.pins, truncateExtend: mode })
  mem.fs.setLayoutGuard(p.guard)
  const ino = mem.fs.create('f', { dax: true })
  mem.fs.write(ino, 0, new Uint8Array(4 * PAGE).fill(1))
  const frames = mem.fs.mapRange(ino, 0, 4 * PAGE)
  mem.pins.pinUserPages([frames[2]!], { owner: 'mr', longterm: true, write: true })
  mem.phys.frameView(frames[2]!).fill(0xab) // what the NIC wrote
  return { mem, fs: mem.fs, p, ino, frames }
}

t.test('policy truncate-extend - extend: the file grows back over the pinned page and its RDMA data stays visible (seed 000 option 4, literal)', async (t) => {
  const { mem, fs, p, ino, frames } = make(t, 'extend')
  const free0 = fs.freeBlocks()
  await fs.truncate(ino, PAGE)
  const st = fs.stat(ino)
  t.same([st.size, st.blocks, st.retained], [3 * PAGE, 2, 0], 'size grows back to the end of the pinned page; nothing retained out of sight')
  t.equal(fs.freeBlocks(), free0 + 2, 'the two unpinned pages past the new EOF are freed')
  t.equal(fs.blockOf(ino, 1), -1, 'page 1 is a hole')
  t.ok(fs.read(ino, PAGE, PAGE).every((b) => b === 0), '... and reads as zeros')
  t.equal(fs.blockOf(ino, 2), frames[2], 'the pinned page is still the file\'s page 2')
  t.ok(fs.read(ino, 2 * PAGE, PAGE).every((b) => b === 0xab), 'the RDMA data is visible')
  mem.phys.frameView(frames[2]!).fill(0xcd)
  t.equal(fs.read(ino, 2 * PAGE, 1)[0], 0xcd, 'later RDMA writes too')
  t.same([p.counters.blocksKept, p.counters.pagesExtended, p.counters.layoutWaited], [1, 1, 0])
  t.equal(mem.oracle.currentOwner(frames[2]!), ino, 'the oracle: the block is still the file\'s')
  mem.pins.releaseOwner('mr')
  t.equal(fs.stat(ino).blocks, 2, 'after the unpin the page simply stays in the file')
  t.equal(fs.stat(ino).size, 3 * PAGE)
})

t.test('policy truncate-extend - retain (default): the size shrinks, the pinned block stays the file\'s out of sight until unpinned', async (t) => {
  const { mem, fs, p, ino } = make(t, 'retain')
  t.equal(new LayoutPolicy('truncate-extend', { pins: mem.pins }).truncateExtend, 'retain', 'the default reading')
  await fs.truncate(ino, PAGE)
  const st = fs.stat(ino)
  t.same([st.size, st.blocks, st.retained], [PAGE, 1, 1])
  t.equal(fs.read(ino, 0, 4 * PAGE).length, PAGE, 'reads stop at the new EOF: the RDMA data is invisible')
  t.same([p.counters.blocksKept, p.counters.pagesExtended], [1, 0])
  mem.pins.releaseOwner('mr')
  t.equal(fs.stat(ino).retained, 0, 'released at the last unpin')
})
