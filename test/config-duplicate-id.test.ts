import t from 'tap'
import { defaultWith, validate } from './config-helpers.ts'

t.test('config - duplicate id', async (t) => {
  const r = await validate(t, defaultWith((c) => (c.nodes[1]!.id = 'server0')))
  t.equal(r.code, 2, 'exit code 2')
  t.same(r.lines, ['nodes[1].id: duplicate id "server0" (also nodes[0].id)'], 'names both paths')
})
