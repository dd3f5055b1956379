import t, { type Test } from 'tap'
import { EmuError, ErrorCodes } from '../src/errors.ts'
import type { NodeCommand } from '../fabric/node-messages.ts'
import { startEnginePair, type EnginePair } from './helpers/engine-pair.ts'

// fabric.faults.* bodies are checked at the boundary: a bad rule is refused
// with ERR_BAD_MESSAGE naming the field, never installed; the rule set's own
// refusals (a duplicate id, an unknown id) have their stable codes.
async function refused(t: Test, pair: EnginePair, type: NodeCommand, body: unknown, code: string, field?: string): Promise<void> {
  const err = await (pair.a.control.request as (p: string, t: string, b: unknown) => Promise<unknown>)('b', type, body).then(() => undefined, (e: unknown) => e)
  t.ok(err instanceof EmuError, `${type} ${JSON.stringify(body)}: refused`)
  const e = err as EmuError
  t.equal(e.code, code, `code ${code}`)
  if (field !== undefined) {
    t.equal((e.details as { field?: string } | undefined)?.field, field, `names the field "${field}" (${e.message})`)
  }
}


const ok = { id: 'r', seed: 1 }

t.test('fabric - a bad fault rule is refused naming the field', async (t) => {
  const pair = await startEnginePair(t)
  const bad: Array<[unknown, string]> = [
    [{ rule: { seed: 1 } }, 'rule.id'],
    [{ rule: { id: 'r' } }, 'rule.seed'],
    [{ rule: { ...ok, seed: 1.5 } }, 'rule.seed'],
    [{ rule: { ...ok, to: [] } }, 'rule.to'],
    [{ rule: { ...ok, from: ['a', 7] } }, 'rule.from[1]'],
    [{ rule: { ...ok, delay: { jitterMs: 1 } } }, 'rule.delay.ms'],
    [{ rule: { ...ok, delay: { ms: 1, distribution: 'gamma' } } }, 'rule.delay.distribution'],
    [{ rule: { ...ok, delay: { ms: -1 } } }, 'rule.delay.ms'],
    [{ rule: { ...ok, loss: { probability: 2 } } }, 'rule.loss.probability'],
    [{ rule: { ...ok, loss: { correlation: 0.5 } } }, 'rule.loss'],
    [{ rule: { ...ok, loss: { probability: 0.1, gemodel: { p: 0.1 } } } }, 'rule.loss'],
    [{ rule: { ...ok, loss: { gemodel: { r: 0.1 } } } }, 'rule.loss.gemodel.p'],
    [{ rule: { ...ok, duplicate: { probability: -0.1 } } }, 'rule.duplicate.probability'],
    [{ rule: { ...ok, corrupt: {} } }, 'rule.corrupt.probability'],
    [{ rule: { ...ok, reorder: { probability: 0.1, depth: 0 } } }, 'rule.reorder.depth'],
    [{ rule: { ...ok, rate: { bytesPerSec: 0 } } }, 'rule.rate.bytesPerSec'],
    [{ rule: { ...ok, partition: 'yes' } }, 'rule.partition'],
    [{ rule: { ...ok, control: { drop: 0.5 } } }, 'rule.control.messages'],
    [{ rule: { ...ok, jitter: 5 } }, 'rule.jitter'],
    [{}, 'rule'],
  ]
  for (const [body, field] of bad) await refused(t, pair, 'fabric.faults.add', body, ErrorCodes.BAD_MESSAGE, field)
  await refused(t, pair, 'fabric.faults.remove', {}, ErrorCodes.BAD_MESSAGE, 'id')
  t.equal(pair.b.device.rules.size, 0, 'no bad rule was installed')
  t.equal(pair.b.control.counters.badBodies, bad.length + 1, 'each refusal counted')

  await pair.a.control.request('b', 'fabric.faults.add', { rule: ok })
  await refused(t, pair, 'fabric.faults.add', { rule: ok }, ErrorCodes.EEXIST)
  await refused(t, pair, 'fabric.faults.remove', { id: 'nope' }, ErrorCodes.ENOENT)
  await pair.a.control.request('b', 'fabric.faults.remove', { id: 'r' })
  t.equal(pair.b.device.rules.size, 0, 'removed')
  await pair.a.control.request('b', 'fabric.faults.clear')
  t.same(await pair.a.control.request('b', 'fabric.faults.counters'), { rules: [], icrcErrors: 0 }, 'cleared: no rule, no counters')
})
