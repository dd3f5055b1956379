import t from 'tap'
import { defaultWith, validate } from './config-helpers.ts'

t.test('config - unknown role', async (t) => {
  const r = await validate(t, defaultWith((c) => (c.nodes[2]!.role = 'router')))
  t.equal(r.code, 2, 'exit code 2')
  t.same(r.lines, ['nodes[2].role: expected one of client, server, got "router"'], 'one line naming the path and the allowed roles')
})
