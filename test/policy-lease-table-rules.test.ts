import t from 'tap'
import { LeaseTable, type Lease } from '../src/memory/index.ts'
import { ErrorCodes } from '../src/errors.ts'

// The layout lease table on its own: exclusive leases, F_UNLCK rules, one
// break shared by every waiter, release in time vs revocation, holder loss.
t.test('leases - exclusive; unlock only by the holder and only without pins', async (t) => {
  const l = new LeaseTable({ breakTimeMs: 1000 })
  t.equal(l.acquire(1, 'a', 'c0').holder, 'c0')
  t.equal(l.acquire(1, 'a', 'c0').holder, 'c0', 'idempotent for the holder')
  t.throws(() => l.acquire(1, 'a', 'c1'), { code: ErrorCodes.EAGAIN })
  t.throws(() => l.release(2, 'b', 'c0', 0), { code: ErrorCodes.EINVAL }, 'no lease')
  t.throws(() => l.release(1, 'a', 'c1', 0), { code: ErrorCodes.EACCES }, 'not the holder')
  t.throws(() => l.release(1, 'a', 'c0', 1), { code: ErrorCodes.EBUSY }, 'MRs still pinned')
  l.release(1, 'a', 'c0', 0)
  t.equal(l.size, 0)
  t.same([l.counters.granted, l.counters.released], [1, 1])
  t.throws(() => new LeaseTable({ breakTimeMs: -1 }), { code: ErrorCodes.EINVAL })
})

t.test('leases - a break notifies once, is shared, and ends when the holder lets go', async (t) => {
  const l = new LeaseTable({ breakTimeMs: 10_000 })
  l.acquire(1, 'a', 'c0')
  const notified: Lease[] = []
  const hooks = { notify: (x: Lease) => void notified.push(x), expire: () => void t.fail('no revocation expected') }
  const p1 = l.breakLease(1, 'truncate', hooks)!
  const p2 = l.breakLease(1, 'punch', hooks)!
  t.equal(p1, p2, 'one break for every waiter')
  t.equal(notified.length, 1, 'the holder is told once')
  t.equal(l.breakLease(2, 'truncate', hooks), null, 'no lease, no break')
  t.throws(() => l.acquire(1, 'a', 'c0'), { code: ErrorCodes.EAGAIN }, 'no re-acquiring while it breaks')
  t.match(l.list(), [{ file: 'a', holder: 'c0', breaking: true }])
  l.release(1, 'a', 'c0', 0)
  t.equal(await p1, 'released')
  t.same([l.counters.breaks, l.counters.breaksReleased, l.counters.revocations], [1, 1, 0])
})

t.test('leases - a break that runs out is revoked; a lost holder ends it too', async (t) => {
  const l = new LeaseTable({ breakTimeMs: 30 })
  l.acquire(1, 'a', 'c0')
  let revoked: Lease | undefined
  const t0 = Date.now()
  const how = await l.breakLease(1, 'truncate', { notify: () => {}, expire: (x) => { revoked = x } })
  t.equal(how, 'revoked')
  t.ok(Date.now() - t0 >= 25, 'after the break time')
  t.equal(revoked?.holder, 'c0', 'the revocation hook ran')
  t.equal(l.counters.revocations, 1)
  t.equal(l.size, 0)

  l.acquire(2, 'b', 'c1')
  const lost = l.breakLease(2, 'unlink', { notify: () => {}, expire: () => void t.fail('no revocation expected') })!
  t.equal(l.dropHolder('c1'), 1)
  t.equal(await lost, 'holder-lost')
  t.equal(l.counters.holdersLost, 1)
  l.acquire(3, 'c', 'c2')
  l.close()
  t.equal(l.byFile('c')?.ino, 3)
})
