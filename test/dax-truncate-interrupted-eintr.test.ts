import t from 'tap'
import { startRdmaCluster } from './helpers/rdma-cluster.ts'
import { serverReq } from './helpers/odp.ts'
import { ErrorCodes } from '../src/errors.ts'

// Over the control plane: a DAX truncate waiting for a busy page (here a
// plain page reference, mem.pinPages ref) is interrupted with EINTR by its
// own waitMs (what a scenario's truncate timeoutMs sends) or by fs.interrupt
// (a signal to the waiting process); the file is unchanged each time. The
// wait it mirrors is fs/dax.c dax_layout_busy_page_range + the TASK_INTERRUPTIBLE
// wait in xfs_break_dax_layouts.
const PAGE = 4096

t.test('dax truncate - a wait for a busy page is interrupted (EINTR) by waitMs or fs.interrupt (dax_layout_busy_page_range, TASK_INTERRUPTIBLE)', async (t) => {
  const rc = await startRdmaCluster(t, { server: { policy: 'upstream' } })
  const req = serverReq(rc)
  await req('fs.create', { name: 'A.dat', dax: true })
  await req('fs.write', { name: 'A.dat', offset: 0, data: new Uint8Array(4 * PAGE).fill(7) })
  const { handle } = await req('mem.pinPages', { file: 'A.dat', offset: 3 * PAGE, length: PAGE, ref: true })
  const pc = await req('mem.pinCounts', { file: 'A.dat', offset: 3 * PAGE, length: PAGE })
  t.same([pc.pins, pc.refcounts], [[0], [1]], 'a plain reference: no pin, refcount 1')

  const t0 = Date.now()
  await t.rejects(req('fs.truncate', { name: 'A.dat', size: PAGE, waitMs: 300 }, 5000), { code: ErrorCodes.EINTR }, 'waitMs: EINTR')
  t.ok(Date.now() - t0 >= 280, `after about 300 ms (${Date.now() - t0} ms)`)
  t.equal((await req('fs.stat', { name: 'A.dat' })).size, 4 * PAGE, 'unchanged')

  const punching = req('fs.punch', { name: 'A.dat', offset: 2 * PAGE, length: 2 * PAGE }, 5000)
  await new Promise((r) => setTimeout(r, 100))
  t.same(await req('fs.interrupt', { name: 'A.dat' }), { interrupted: 1 }, 'one waiting change interrupted')
  await t.rejects(punching, { code: ErrorCodes.EINTR }, 'fs.interrupt: EINTR')
  t.equal((await req('fs.stat', { name: 'A.dat' })).blocks, 4, 'unchanged')
  const p = (await req('mem.stats')).policy
  t.same([p.layoutInterrupted, p.layoutWaiting], [2, 0], 'two interrupted, none waiting')
  t.same(await req('fs.interrupt', { name: 'A.dat' }), { interrupted: 0 }, 'nothing left to interrupt')

  await req('mem.unpinPages', { handle })
  await req('fs.truncate', { name: 'A.dat', size: PAGE, waitMs: 1000 })
  t.equal((await req('fs.stat', { name: 'A.dat' })).size, PAGE, 'the reference dropped: the truncate goes through')
})
