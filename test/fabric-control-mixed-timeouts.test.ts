import t from 'tap'
import { LoopbackHub } from '../fabric/loopback-transport.ts'
import { testControl } from './helpers/test-messages.ts'
import { EmuError, ErrorCodes } from '../src/errors.ts'

// The control plane times requests out with one shared timer: requests with
// different timeouts still expire in deadline order, answered ones never time
// out, and once nothing is pending no timer keeps the process alive.
t.test('control - mixed timeouts share one timer and leave no timer behind', async (t) => {
  const hub = new LoopbackHub()
  const a = hub.create('a', { heartbeatIntervalMs: 0 })
  const b = hub.create('b', { heartbeatIntervalMs: 0 })
  await a.start()
  await b.start()
  t.teardown(async () => {
    await a.close()
    await b.close()
  })
  a.connect('b', 'loopback://b')
  const ca = testControl(a)
  const cb = testControl(b)
  cb.handle('never', () => new Promise(() => {}))
  cb.handle('echo', (body: unknown) => body)

  const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length
  const before = timers()
  const t0 = performance.now()
  const order: string[] = []
  const expect = (name: string, p: Promise<unknown>) =>
    p.then(
      () => order.push(`${name}:ok`),
      (err: EmuError) => {
        t.equal(err.code, ErrorCodes.TIMEOUT, `${name} times out`)
        order.push(`${name}:timeout@${Math.round(performance.now() - t0)}`)
      },
    )
  // Wide margins: the machine may be loaded (an echo has 250 ms, the fast
  // request expires at 400 ms and must not wait for the slow one's 1200 ms).
  const slow = expect('slow', ca.request('b', 'never', null, 1200))
  const fast = expect('fast', ca.request('b', 'never', null, 400))
  t.equal(timers(), before + 1, 'one timer for all pending requests')
  t.same(await ca.request('b', 'echo', 7, 250), 7, 'answered before its short timeout')
  await Promise.all([slow, fast])
  t.same(order.map((o) => o.split('@')[0]), ['fast:timeout', 'slow:timeout'], 'expired in deadline order')
  const at = (name: string) => Number(order.find((o) => o.startsWith(name))!.split('@')[1])
  t.ok(at('fast') >= 399 && at('fast') < 1100, `fast expired after ~400 ms (${at('fast')} ms)`)
  t.ok(at('slow') >= 1199, `slow expired after ~1200 ms (${at('slow')} ms)`)
  t.equal(ca.counters.timeouts, 2)
  t.equal(timers(), before, 'nothing pending: no timer holds the process')

  // Answered requests keep no timer either, and a new request re-arms it.
  for (let i = 0; i < 20; i++) t.equal(await ca.request('b', 'echo', i), i)
  t.equal(timers(), before, 'no timer after answered requests')
  const late = ca.request('b', 'never', null, 20)
  t.equal(timers(), before + 1, 'a pending request holds one timer')
  await t.rejects(late, { code: ErrorCodes.TIMEOUT })
  t.equal(timers(), before)
})
