import t from 'tap'
import { defaultWith, validate } from './config-helpers.ts'

t.test('config - port out of range', async (t) => {
  const r = await validate(t, defaultWith((c) => {
    c.nodes[0]!.port = 70000
    c.nodes[2]!.port = -1
  }))
  t.equal(r.code, 2, 'exit code 2')
  t.same(r.lines, [
    'nodes[0].port: expected integer 0-65535, got 70000',
    'nodes[2].port: expected integer 0-65535, got -1',
  ], 'one line per bad port')
})
