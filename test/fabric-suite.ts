/**
 * The fabric suite: the same assertions, run once per Transport
 * implementation (the zeromq.js model). Each test/fabric-*.test.ts file runs
 * one behaviour over every kit in `kits`.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import { controlFrame, dataHeader, FrameKind } from '../fabric/frame.ts'
import { LoopbackHub } from '../fabric/loopback-transport.ts'
import { trainPool } from '../fabric/train-pool.ts'
import type { HeartbeatOptions, TransportBase } from '../fabric/transport-base.ts'
import type { PeerInfo, Transport } from '../fabric/transport.ts'
import { ZmqTransport } from '../fabric/zmq-transport.ts'
import { testControl } from './helpers/test-messages.ts'
import { EmuError, ErrorCodes } from '../src/errors.ts'

export interface TransportKit {
  name: string
  /** A started transport; closed by the kit's teardown. */
  create(t: Test, id: string, opts?: HeartbeatOptions): Promise<Transport>
}

const loopbackKit = (): TransportKit => {
  const hub = new LoopbackHub()
  return {
    name: 'loopback',
    async create(t, id, opts = {}) {
      const tr = hub.create(id, opts)
      await tr.start()
      t.teardown(() => tr.close())
      return tr
    },
  }
}

const zmqKit = (): TransportKit => ({
  name: 'zmq',
  async create(t, id, opts = {}) {
    const tr = new ZmqTransport(id, { bind: 'tcp://127.0.0.1:0', ...opts })
    await tr.start()
    t.teardown(() => tr.close())
    return tr
  },
})

const zmqIpcKit = (): TransportKit => ({
  name: 'zmq-ipc',
  async create(t, id, opts = {}) {
    const dir = mkdtempSync(join(tmpdir(), 'rdma-emu-ipc-'))
    const tr = new ZmqTransport(id, { bind: `ipc://${join(dir, `${id}.sock`)}`, ...opts })
    await tr.start()
    t.teardown(async () => {
      await tr.close()
      rmSync(dir, { recursive: true, force: true })
    })
    return tr
  },
})

/** Fresh kits (one hub per call so tests do not share state). */
export function kits(): TransportKit[] {
  return [loopbackKit(), zmqKit(), zmqIpcKit()]
}

/** Run `body` as one subtest per transport, named like 'fabric - ordered delivery (zmq)'. */
export function overEveryTransport(t: Test, name: string, body: (t: Test, kit: TransportKit) => Promise<void>): void {
  for (const kit of kits()) t.test(`${name} (${kit.name})`, (t) => body(t, kit))
}

/** Two started transports, `a` connected to `b` (b reaches a over a's connection). */
export async function pair(t: Test, kit: TransportKit, opts?: HeartbeatOptions): Promise<{ a: Transport; b: Transport }> {
  const a = await kit.create(t, 'node-a', opts)
  const b = await kit.create(t, 'node-b', opts)
  a.connect(b.id, b.endpoint)
  return { a, b }
}

export function waitFor<T>(what: string, ms: number, register: (done: (v: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)
    register((v) => {
      clearTimeout(timer)
      resolve(v)
    })
  })
}

export async function orderedDelivery(t: Test, kit: TransportKit): Promise<void> {
  const { a, b } = await pair(t, kit)
  const ca = testControl(a)
  const cb = testControl(b)
  const N = 500
  const seenB: number[] = []
  const seenA: number[] = []
  cb.handle('seq', (body: { n: number }) => void seenB.push(body.n))
  ca.handle('seq', (body: { n: number }) => void seenA.push(body.n))
  const gotB = waitFor('b to receive all', 10000, (done) => cb.handle('end', () => done(undefined)))
  for (let n = 0; n < N; n++) ca.notify('node-b', 'seq', { n })
  ca.notify('node-b', 'end')
  await gotB
  t.same(seenB, [...Array(N).keys()], 'a -> b in send order')
  // The reverse direction uses b's reply path (a's connection), still ordered.
  const gotA = waitFor('a to receive all', 10000, (done) => ca.handle('end', () => done(undefined)))
  for (let n = 0; n < N; n++) cb.notify('node-a', 'seq', { n })
  cb.notify('node-a', 'end')
  await gotA
  t.same(seenA, [...Array(N).keys()], 'b -> a in send order')
}

export async function multipartTrains(t: Test, kit: TransportKit): Promise<void> {
  const { a, b } = await pair(t, kit)
  const ca = testControl(a)
  const cb = testControl(b)
  const sizes = [12, 1, 300, 4096, 65536]
  const train = sizes.map((size, i) => {
    const p = new Uint8Array(size)
    for (let j = 0; j < size; j++) p[j] = (i * 31 + j) & 0xff
    return p
  })
  const expected = train.map((p) => Buffer.from(p))
  const received: Array<{ from: string; packets: Uint8Array[] }> = []
  const twoTrains = waitFor('two trains', 10000, (done) =>
    cb.onData((from, packets) => {
      received.push({ from, packets })
      if (received.length === 2) done(undefined)
    }),
  )
  ca.sendData('node-b', train)
  ca.sendData('node-b', [Uint8Array.of(0xab)])
  await twoTrains
  t.equal(received[0]!.from, 'node-a', 'sender id')
  t.equal(received[0]!.packets.length, sizes.length, 'every packet of the train')
  t.same(received[0]!.packets.map((p) => Buffer.from(p)), expected, 'packet bytes intact')
  t.same(received[1]!.packets.map((p) => [...p]), [[0xab]], 'second train separate')
  t.equal(cb.counters.dataFramesIn, 2)
}

export async function controlRequestResponse(t: Test, kit: TransportKit): Promise<void> {
  const { a, b } = await pair(t, kit)
  const ca = testControl(a)
  const cb = testControl(b)
  cb.handle('echo', (body, from) => ({ body, from }))
  cb.handle('slow-add', async (body: { x: number; y: number }) => {
    await new Promise((r) => setTimeout(r, 20))
    return body.x + body.y
  })
  const reply = await ca.request('node-b', 'echo', { va: 0x1_0000_0000_0000n, s: 'hi', bytes: Uint8Array.of(1, 2, 3) })
  t.equal(reply.from, 'node-a', 'handler sees the sender')
  const body = reply.body as { va: bigint; s: string; bytes: Uint8Array }
  t.equal(body.va, 0x1_0000_0000_0000n, 'bigint round-trips')
  t.equal(body.s, 'hi')
  t.same([...body.bytes], [1, 2, 3], 'binary round-trips')
  const sums = await Promise.all([1, 2, 3].map((x) => ca.request('node-b', 'slow-add', { x, y: 10 })))
  t.same(sums, [11, 12, 13], 'concurrent requests matched to their replies')
  // b answers a back over a's own connection.
  ca.handle('whoami', () => 'node-a')
  t.equal(await cb.request('node-a', 'whoami'), 'node-a', 'request in the reply direction')
}

export async function controlTimeout(t: Test, kit: TransportKit): Promise<void> {
  const { a, b } = await pair(t, kit)
  const ca = testControl(a)
  const cb = testControl(b)
  cb.handle('never', () => new Promise(() => {}))
  const started = Date.now()
  const err = await ca.request('node-b', 'never', undefined, 150).catch((e: unknown) => e)
  t.ok(err instanceof EmuError, 'rejects with an EmuError')
  t.equal((err as EmuError).code, ErrorCodes.TIMEOUT, 'code is TIMEOUT')
  t.ok(Date.now() - started >= 140, 'after the timeout')
  t.equal(ca.counters.timeouts, 1, 'counted')
}

export async function controlRemoteError(t: Test, kit: TransportKit): Promise<void> {
  const { a, b } = await pair(t, kit)
  const ca = testControl(a)
  const cb = testControl(b)
  cb.handle('busy', () => {
    throw new EmuError(ErrorCodes.ETXTBSY, 'range is pinned')
  })
  cb.handle('bug', async () => {
    throw new Error('oops')
  })
  const busy = (await ca.request('node-b', 'busy').catch((e: unknown) => e)) as EmuError
  t.equal(busy.code, ErrorCodes.ETXTBSY, 'remote EmuError code carried over')
  t.equal(busy.message, 'range is pinned', 'remote message carried over')
  const bug = (await ca.request('node-b', 'bug').catch((e: unknown) => e)) as EmuError
  t.equal(bug.code, ErrorCodes.INTERNAL, 'plain Error becomes INTERNAL')
  const missing = (await ca.request('node-b', 'no-such-type').catch((e: unknown) => e)) as EmuError
  t.equal(missing.code, ErrorCodes.EOPNOTSUPP, 'unknown type is EOPNOTSUPP')
  t.equal(ca.counters.remoteErrors, 3)
  cb.handle('ok', () => 'still fine')
  t.equal(await ca.request('node-b', 'ok'), 'still fine', 'node keeps serving after errors')
}

export async function peerDownAfterClose(t: Test, kit: TransportKit): Promise<void> {
  const opts = { heartbeatIntervalMs: 50, heartbeatTimeoutMs: 400 }
  const { a, b } = await pair(t, kit, opts)
  const ca = testControl(a)
  const cb = testControl(b)
  const events: PeerInfo[] = []
  a.on('peer', (info) => events.push(info))
  cb.handle('ping', () => 'pong')
  t.equal(await ca.request('node-b', 'ping'), 'pong')
  t.equal(a.peers().find((p) => p.id === 'node-b')?.state, 'up', 'b is up once it answered')
  const down = waitFor<PeerInfo>('b down', 5000, (done) =>
    a.on('peer', (info) => {
      if (info.id === 'node-b' && info.state === 'down') done(info)
    }),
  )
  await b.close()
  const info = await down
  t.equal(info.state, 'down', 'peer event says down')
  t.equal(a.peers().find((p) => p.id === 'node-b')?.state, 'down', 'peers() agrees')
  t.ok(events.some((e) => e.id === 'node-b' && e.state === 'up'), 'an up event came first')
  void cb
}

/** A peer that reached us and went away is not heartbeated forever (each beat would be a send error). */
export async function departedPeerForgotten(t: Test, kit: TransportKit): Promise<void> {
  const opts = { heartbeatIntervalMs: 50, heartbeatTimeoutMs: 400 }
  const { a, b } = await pair(t, kit, opts) // a connected to b; b only answers
  const gone = waitFor<PeerInfo>('a down at b', 5000, (done) =>
    b.on('peer', (info) => {
      if (info.id === 'node-a' && info.state === 'down') done(info)
    }),
  )
  await waitFor('a up at b', 5000, (done) => {
    if (b.peers().some((p) => p.id === 'node-a' && p.state === 'up')) return done(undefined)
    b.on('peer', (info) => info.id === 'node-a' && info.state === 'up' && done(undefined))
  })
  await a.close()
  await gone
  const counters = (b as TransportBase).counters
  const beats = counters.heartbeatsOut
  await new Promise((r) => setTimeout(r, 400))
  t.equal(counters.heartbeatsOut, beats, 'no heartbeats to the departed peer (8 ticks later)')
}

export async function badFrameCounted(t: Test, kit: TransportKit): Promise<void> {
  const { a, b } = await pair(t, kit)
  const ca = testControl(a)
  const cb = testControl(b)
  cb.handle('ping', () => 'pong')
  a.send('node-b', [Uint8Array.of(0x99)]) // unknown kind
  a.send('node-b', [Uint8Array.of(FrameKind.CONTROL), Uint8Array.of(0x92, 0x01)]) // truncated msgpack array
  a.send('node-b', [dataHeader(0)]) // empty train
  a.send('node-b', controlFrame({ no: 'type field' })) // valid msgpack, not a control message
  a.send('node-b', [Uint8Array.of(1, 2), Uint8Array.of(3)]) // two-byte header
  t.equal(await ca.request('node-b', 'ping'), 'pong', 'node still serves requests')
  t.equal(cb.counters.badFrames, 5, 'every bad frame counted')
}

/**
 * Pooled train memory goes back to the pool only when the peer reports the
 * train received (the echo in DATA headers), never earlier: a burst larger
 * than the pool arrives intact, nothing returns while the peer stays silent,
 * and one train back returns the lot.
 */
export async function pooledTrainsRecycled(t: Test, kit: TransportKit): Promise<void> {
  const { a, b } = await pair(t, kit)
  const ca = testControl(a)
  const cb = testControl(b)
  const K = 100
  const size = 60_000
  const fill = (k: number) => new Uint8Array(size).fill((k * 7 + 1) & 0xff)
  const bad: number[] = []
  let got = 0
  const all = waitFor('the burst', 20000, (done) =>
    cb.onData((_from, packets) => {
      const k = got++
      const p = packets[0]!
      if (p.length !== size || p[0] !== ((k * 7 + 1) & 0xff) || p[size - 1] !== p[0]) bad.push(k)
      if (got === K) done(undefined)
    }),
  )
  const lent0 = trainPool.lent
  const returned0 = trainPool.returned
  for (let k = 0; k < K; k++) ca.sendData('node-b', [fill(k)])
  const lent = trainPool.lent - lent0
  await all
  t.same(bad, [], `all ${K} trains arrived intact`)
  t.ok(lent > 0, `trains came from the pool (${lent} of ${K})`)
  t.equal(trainPool.returned - returned0, 0, 'nothing returned while the peer has said nothing')
  const back = waitFor('the reply train', 10000, (done) => ca.onData(() => done(undefined)))
  cb.sendData('node-a', [Uint8Array.of(1)])
  await back
  t.equal(trainPool.returned - returned0, lent, 'the reply reported every train received: all chunks back')
  t.equal(ca.counters.dataFramesIn, 1)
}
