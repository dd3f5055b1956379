import t from 'tap'
import { validate } from './config-helpers.ts'

t.test('config - invalid JSON', async (t) => {
  const text = '{\n  "nodes": [\n    { "id": "server0", "role": "server", },\n  ]\n}\n'
  const r = await validate(t, text)
  t.equal(r.code, 2, 'exit code 2')
  t.same(r.lines, ['cluster.config.json: invalid JSON at line 3 column 42: expected a property name in double quotes, got "}"'], 'line and column of the trailing comma')
})
