import t from 'tap'
import { defaultWith, validate } from './config-helpers.ts'

t.test('config - one line per problem', async (t) => {
  const r = await validate(t, defaultWith((c) => {
    c.nodes[0]!.server = { policy: 'yolo', pageSize: 4096 }
    c.nodes[1]!.server = {}
    c.nodes[2]!.bogus = true
    c.fabric = { heartbeatIntervalMs: 500, heartbeatTimeoutMs: 400 }
  }))
  t.equal(r.code, 2, 'exit code 2')
  t.same([...r.lines].sort(), [
    'fabric.heartbeatTimeoutMs: expected more than heartbeatIntervalMs (500), got 400',
    'nodes[0].server.policy: expected one of upstream, unsafe-gup, deny, truncate-extend, layout-lease, exclusive-lease, odp, got "yolo"',
    'nodes[1].server: only allowed when role is "server"',
    'nodes[2].bogus: unknown property, expected one of id, role, transport, host, bind, advertise, port, path, program, args, server',
  ], 'every problem reported, each on its own line')
})
