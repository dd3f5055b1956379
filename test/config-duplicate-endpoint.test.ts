import t from 'tap'
import { configProblems } from '../src/config/load-config.ts'

t.test('config - duplicate fixed endpoint', async (t) => {
  const lines = configProblems({
    nodes: [
      { id: 'server0', role: 'server', port: 7000 },
      { id: 'client0', role: 'client', port: 0 },
      { id: 'client1', role: 'client', port: 0 },
      { id: 'client2', role: 'client', port: 7000 },
    ],
  })
  t.same(lines, ['nodes[3].port: duplicate endpoint 127.0.0.1:7000 (also nodes[0].port)'], 'port 0 may repeat, fixed ports may not')
})
