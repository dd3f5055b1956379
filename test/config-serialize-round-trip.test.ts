import t from 'tap'
import { serializeConfig } from '../src/config/defaults.ts'
import { parseConfig } from '../src/config/load-config.ts'

t.test('config - filled config written to the run directory validates again', async (t) => {
  const c = parseConfig({
    nodes: [
      { id: 'server0', role: 'server', transport: 'ipc', server: { policy: 'odp' } },
      { id: 'client0', role: 'client', port: 7100 },
    ],
  })
  t.same(parseConfig(JSON.parse(serializeConfig(c))), c, 'same configuration after a round trip')
})
