import t from 'tap'
import { EmuError, ErrorCodes } from '../src/errors.ts'
import { startEnginePair } from './helpers/engine-pair.ts'

// Control-plane faults between two hosts, installed with fabric.faults.add
// on the sending host: a notice type that is dropped never arrives while
// other types still do; a delayed one arrives late; a request type that is
// dropped times out; a partition drops every control frame of the link,
// replies included, but never the heartbeats.
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const breakNotice = { file: 'f', stags: [], deadlineMs: 60_000 }

t.test('fabric - control-message faults: drop a type, delay a type, time a request out, partition', async (t) => {
  const pair = await startEnginePair(t, { heartbeatIntervalMs: 10, heartbeatTimeoutMs: 60 })
  const { a, b } = pair
  const downs: string[] = []
  for (const h of [a, b]) h.transport.on('peer', (info) => info.state === 'down' && downs.push(`${h.id} saw ${info.id} down`))
  // a only records notices (it does not try to give the lease back).
  await b.control.request('a', 'verbs.lease.mode', { mode: 'ignore' })
  const notices = async () => (await b.control.request('a', 'verbs.lease.status')).notices.length
  const counters = async () => (await a.control.request('b', 'fabric.faults.counters')).rules.map((r) => ({ id: r.id, ...r.links[0]?.counters }))

  await t.test('a dropped notice type never arrives; other types do', async (t) => {
    await a.control.request('b', 'fabric.faults.add', { rule: { id: 'lose-breaks', seed: 7, to: ['a'], control: { messages: ['lease.break'], drop: 1 } } })
    for (let i = 0; i < 3; i++) b.control.notify('a', 'lease.break', breakNotice)
    await sleep(20)
    t.equal(await notices(), 0, 'no lease.break reached a')
    t.equal((await b.control.request('a', 'verbs.counters')).pktsSent, 0, 'a request of another type goes through')
    const [c] = await counters()
    t.equal(c!.controlDropped, 3, 'the three notices counted as dropped')
    await a.control.request('b', 'fabric.faults.remove', { id: 'lose-breaks' })
    b.control.notify('a', 'lease.break', breakNotice)
    await sleep(20)
    t.equal(await notices(), 1, 'after the rule is removed, the notice arrives')
  })

  await t.test('a delayed notice arrives late', async (t) => {
    await a.control.request('b', 'fabric.faults.add', { rule: { id: 'slow-breaks', seed: 7, to: ['a'], control: { messages: ['lease.break'], delayMs: 100 } } })
    const before = await notices()
    const sent = performance.now()
    b.control.notify('a', 'lease.break', breakNotice)
    await sleep(40)
    t.equal(await notices(), before, 'not there after 40 ms')
    while ((await notices()) === before) await sleep(5)
    t.ok(performance.now() - sent >= 100, `arrived after ${(performance.now() - sent).toFixed(0)} ms`)
    const c = (await counters()).find((r) => r.id === 'slow-breaks')!
    t.equal(c.controlDelayed, 1, 'counted as delayed')
    await a.control.request('b', 'fabric.faults.clear')
  })

  await t.test('a dropped request type times out', async (t) => {
    await a.control.request('b', 'fabric.faults.add', { rule: { id: 'lose-status', seed: 7, to: ['a'], control: { messages: ['verbs.lease.status'], drop: 1 } } })
    const err = await b.control.request('a', 'verbs.lease.status', undefined, 50).then(() => undefined, (e: unknown) => e)
    t.ok(err instanceof EmuError && err.code === ErrorCodes.TIMEOUT, 'ERR_TIMEOUT')
    t.ok(await b.control.request('a', 'verbs.counters'), 'other requests are answered')
    await a.control.request('b', 'fabric.faults.clear')
  })

  await t.test('a partition drops requests, replies and notices, never heartbeats', async (t) => {
    b.device.rules.add({ id: 'split', seed: 1, to: ['a'], partition: true })
    const lost = await b.control.request('a', 'verbs.counters', undefined, 50).then(() => undefined, (e: unknown) => e)
    t.ok(lost instanceof EmuError && lost.code === ErrorCodes.TIMEOUT, "b's request to a times out")
    const noReply = await a.control.request('b', 'verbs.counters', undefined, 50).then(() => undefined, (e: unknown) => e)
    t.ok(noReply instanceof EmuError && noReply.code === ErrorCodes.TIMEOUT, "a's request reaches b, but b's reply is dropped")
    await sleep(120)
    t.same(downs, [], 'longer than the heartbeat timeout, and no peer went down')
    t.equal(b.device.rules.report().rules[0]!.links[0]!.counters.controlDropped, 2, 'the request and the reply counted')
    b.device.rules.clear()
    t.ok(await b.control.request('a', 'verbs.counters'), 'healed: requests are answered again')
  })
})
