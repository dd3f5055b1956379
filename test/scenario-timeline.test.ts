import t from 'tap'
import { Timeline } from '../src/scenario/timeline.ts'
import { deriveSeed } from '../src/scenario/fault-steps.ts'

// The run's timeline: tasks start at their time, tasks they schedule are
// waited for too, a failing task is a problem (not an unhandled rejection),
// and cancel() drops what has not started.
t.test('timeline - at, later, settle, problems, cancel', async (t) => {
  const tl = new Timeline()
  const order: string[] = []
  const t0 = performance.now()
  tl.at(60, 'b', async () => {
    order.push(`b@${Math.round(performance.now() - t0)}`)
    tl.later(30, async () => void order.push('c (scheduled by b)'))
  })
  tl.at(10, 'a', async () => void order.push('a'))
  tl.at(20, 'boom', async () => {
    throw new Error('kaput')
  })
  await tl.settle()
  t.equal(order[0], 'a', 'the earliest first')
  t.match(order[1], /^b@(\d+)$/, 'then b')
  t.ok(Number(/@(\d+)/.exec(order[1]!)![1]) >= 55, 'b not before its time')
  t.equal(order[2], 'c (scheduled by b)', 'settle waits for tasks scheduled by tasks')
  t.same(tl.problems, ['boom: kaput'], 'a failing task is recorded, named')

  const tl2 = new Timeline()
  let ran = false
  tl2.at(50, 'never', async () => void (ran = true))
  tl2.cancel()
  await tl2.settle()
  await new Promise((r) => setTimeout(r, 70))
  t.notOk(ran, 'a cancelled task never runs, and settle does not wait for it')
})

t.test('derived seeds: a function of the run seed and the step, different for each', async (t) => {
  t.equal(deriveSeed(7, 3), deriveSeed(7, 3), 'the same inputs, the same seed')
  t.not(deriveSeed(7, 3), deriveSeed(8, 3), 'another run seed, another seed')
  t.not(deriveSeed(7, 3), deriveSeed(7, 4), 'another step, another seed')
  const seen = new Set<number>()
  for (let s = 0; s < 50; s++) for (let i = 0; i < 50; i++) seen.add(deriveSeed(s, i))
  t.equal(seen.size, 2500, 'no collisions over 2500 pairs')
  t.ok([...seen].every((x) => Number.isInteger(x) && x >= 0 && x < 2 ** 32), 'all are u32')
})
