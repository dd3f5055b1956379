import t from 'tap'
import { DEFAULTS } from '../src/config/defaults.ts'
import { parseConfig } from '../src/config/load-config.ts'

t.test('config - defaults filled in', async (t) => {
  const c = parseConfig({ nodes: [{ id: 's', role: 'server' }, { id: 'c', role: 'client' }] })
  t.same(c.fabric, DEFAULTS.fabric, 'fabric defaults')
  t.equal(c.timeScale, 1)
  t.equal(c.logLevel, 'info')
  const s = c.nodes[0]!
  t.equal(s.role, 'server')
  t.same([s.transport, s.bind, s.advertise, s.port], ['tcp', '127.0.0.1', '127.0.0.1', 0], 'tcp on loopback (bound and advertised), free port')
  if (s.role === 'server') {
    t.same(s.server, {
      deviceBytes: 64 * 1024 * 1024, pageSize: 4096, policy: 'upstream', leaseBreakTimeMs: 45000, leaseRevokeKill: false,
      dirtyExpireMs: 30000, writebackMode: 'upstream', truncateExtend: 'retain', workers: 2, inlineBatchBytes: 16384, offload: 'adaptive',
    }, 'server defaults')
  }
  t.notOk('server' in c.nodes[1]!, 'clients get no server section')
})
