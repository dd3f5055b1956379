import t from 'tap'
import { defaultWith, validate } from './config-helpers.ts'

t.test('config - wrong type', async (t) => {
  const r = await validate(t, defaultWith((c) => (c.nodes[1]!.port = 'x')))
  t.equal(r.code, 2, 'exit code 2')
  t.same(r.lines, ['nodes[1].port: expected integer 0-65535, got "x"'], 'one line naming the path and the expectation')
})
