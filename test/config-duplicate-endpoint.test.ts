import t from 'tap'
import { configProblems } from '../src/config/load-config.ts'
import { validate } from './config-helpers.ts'

// Two nodes that peers would dial at one host:port cannot both be reached.
// What counts is the advertised endpoint: two machines may bind the same
// 0.0.0.0:7000, and port 0 never clashes.
t.test('config - two nodes advertising one endpoint are refused', async (t) => {
  const r = await validate(t, {
    nodes: [
      { id: 'server0', role: 'server', bind: '0.0.0.0', advertise: 'server1.lab', port: 7000 },
      { id: 'client0', role: 'client', bind: '0.0.0.0', advertise: 'client1.lab', port: 7000 },
      { id: 'client1', role: 'client', bind: '0.0.0.0', advertise: 'SERVER1.lab', port: 7000 },
      { id: 'client2', role: 'client', port: 0 },
      { id: 'client3', role: 'client', port: 0 },
    ],
  })
  t.equal(r.code, 2, 'exit code 2')
  t.same(r.lines, ['nodes[2].advertise: duplicate endpoint server1.lab:7000 (also nodes[0].advertise) [ERR_CONFIG_ENDPOINT_DUPLICATE]'], 'the second node naming the first, host names compared without case')

  t.same(configProblems({
    nodes: [
      { id: 'server0', role: 'server', port: 7000 },
      { id: 'client0', role: 'client', host: '127.0.0.1', port: 7000 },
    ],
  }), ['nodes[1].port: duplicate endpoint 127.0.0.1:7000 (also nodes[0].port) [ERR_CONFIG_ENDPOINT_DUPLICATE]'], 'host and the default are the same endpoint')
})
