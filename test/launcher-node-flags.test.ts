import t from 'tap'
import { nodeFlags } from '../src/launcher/node-process.ts'
import { Params } from '../src/params.ts'

// A node process starts with Params.nodeV8Flags (a heap sized for streaming
// fabric input), then RDMA_EMU_NODE_FLAGS, space-separated, whose later
// flags override the defaults (V8 takes the last value given).
t.test('launcher - node flags are the V8 defaults, then RDMA_EMU_NODE_FLAGS', async (t) => {
  t.ok(Params.nodeV8Flags.some((f) => f.startsWith('--initial-old-space-size=')), 'an initial old-space limit by default')
  t.same(nodeFlags({}), [...Params.nodeV8Flags])
  t.same(nodeFlags({ RDMA_EMU_NODE_FLAGS: ' --cpu-prof  --initial-old-space-size=64 ' }), [...Params.nodeV8Flags, '--cpu-prof', '--initial-old-space-size=64'])
})
