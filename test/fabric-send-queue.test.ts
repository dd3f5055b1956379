import t from 'tap'
import { SendQueue, type SendTarget } from '../fabric/send-queue.ts'
import type { FramePart } from '../fabric/transport.ts'

/**
 * A socket like zeromq.js: a second send() while one is pending throws EBUSY.
 * `mode` decides how each send settles: resolved at once (a writable socket),
 * left pending until release(), rejected, or thrown synchronously.
 */
class FakeSocket implements SendTarget {
  sent: number[] = []
  pending: Array<{ resolve: () => void; reject: (e: Error) => void }> = []
  mode: 'sync' | 'deferred' | 'reject' | 'throw' = 'sync'
  inFlight = false
  maxInFlight = 0

  /** Modes for the next sends, used before `mode`. */
  plan: Array<FakeSocket['mode']> = []

  send(message: FramePart[]): Promise<void> {
    if (this.inFlight) throw Object.assign(new Error('Socket is busy writing'), { code: 'EBUSY' })
    const mode = this.plan.shift() ?? this.mode
    if (mode === 'throw') throw new Error('socket closed')
    this.sent.push(message[0]![0]!)
    if (mode === 'sync') return Promise.resolve()
    if (mode === 'reject') return Promise.reject(new Error('EHOSTUNREACH'))
    this.inFlight = true
    this.maxInFlight = Math.max(this.maxInFlight, this.pending.length + 1)
    return new Promise((resolve, reject) => this.pending.push({ resolve, reject }))
  }

  release(): void {
    const p = this.pending.shift()
    this.inFlight = false
    p?.resolve()
  }
}

const msg = (n: number): FramePart[] => [Uint8Array.of(n)]
const turn = () => new Promise((r) => setImmediate(r))

t.test('send queue - an idle queue hands the message to the socket in the same turn', async (t) => {
  const s = new FakeSocket()
  const q = new SendQueue(s, 10, () => t.fail('no error expected'))
  t.ok(q.push(msg(1)))
  t.same(s.sent, [1], 'sent synchronously, before any await')
  await turn()
  t.ok(q.push(msg(2)))
  t.same(s.sent, [1, 2])
})

t.test('send queue - one send in flight, FIFO order, bounded backlog', async (t) => {
  const s = new FakeSocket()
  s.mode = 'deferred'
  const errors: Error[] = []
  const q = new SendQueue(s, 3, (e) => errors.push(e))
  for (let i = 1; i <= 4; i++) t.ok(q.push(msg(i)), `push ${i} accepted`)
  t.notOk(q.push(msg(5)), 'the fifth is refused: 1 in flight + 3 queued')
  t.equal(q.length, 3)
  for (let i = 0; i < 4; i++) {
    s.release()
    await turn()
  }
  t.same(s.sent, [1, 2, 3, 4], 'in order')
  t.equal(s.maxInFlight, 1, 'never two sends pending (no EBUSY)')
  t.same(errors, [])
  t.equal(q.length, 0)
  s.mode = 'sync'
  t.ok(q.push(msg(6)))
  t.same(s.sent, [1, 2, 3, 4, 6], 'idle again: sent at once')
})

t.test('send queue - failed sends are reported and do not stall or reorder the queue', async (t) => {
  const s = new FakeSocket()
  s.mode = 'deferred'
  const errors: string[] = []
  const q = new SendQueue(s, 10, (e) => errors.push(e.message))
  for (let i = 1; i <= 5; i++) q.push(msg(i))
  // 1 is pending; then 2 is rejected, 3 and 4 throw synchronously, 5 goes through.
  s.plan = ['reject', 'throw', 'throw', 'sync']
  s.release()
  await turn()
  t.same(s.sent, [1, 2, 5], 'the throwing sends are skipped, the rest keeps its order')
  t.same(errors, ['EHOSTUNREACH', 'socket closed', 'socket closed'])
  t.equal(q.length, 0, 'nothing stuck')
  s.mode = 'sync'
  t.ok(q.push(msg(6)))
  t.same(s.sent, [1, 2, 5, 6], 'idle again: sent at once')
})

t.test('send queue - close drops the backlog and refuses new messages', async (t) => {
  const s = new FakeSocket()
  s.mode = 'deferred'
  const q = new SendQueue(s, 10, () => t.fail('errors after close are not reported'))
  q.push(msg(1))
  q.push(msg(2))
  q.close()
  t.equal(q.length, 0)
  t.notOk(q.push(msg(3)))
  s.pending.shift()!.reject(new Error('closed'))
  s.inFlight = false
  await turn()
  t.same(s.sent, [1], 'nothing sent after close')
})
