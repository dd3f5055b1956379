import t from 'tap'
import { join } from 'node:path'
import { serverReq } from './helpers/odp.ts'
import { startRdmaCluster, connect, pattern, ALL_ACCESS, PMEM_ACCESS } from './helpers/rdma-cluster.ts'
import { ROOT } from './cluster-helpers.ts'
import { ErrorCodes } from '../src/errors.ts'
import { loadConfig } from '../src/config/load-config.ts'
import { ContiguousMemory } from '../src/memory/region-memory.ts'
import { parseScenario } from '../src/scenario/load-scenario.ts'
import { RdmaDevice } from '../src/verbs/device.ts'
import { Access, SendFlags, WcStatus, WrOpcode } from '../src/verbs/constants.ts'

// rxe_mr_fill_pages_from_sgt (rxe_mr.c), run by ibv_reg_mr through
// rxe_mr_init_user: a registration that asks for IB_ACCESS_FLUSH_PERSISTENT
// fails with EINVAL ("Page can't be persistent") unless every page it pins is
// persistent memory (is_pmem_page). Here that is a DAX device block: a range
// of a DAX file. Anonymous memory, page-cache pages and a process's own
// buffers are DRAM. An ODP registration pins nothing and is not checked
// (rxe_odp_mr_init_user), nor is a registration with no page, nor an
// ibv_rereg_mr of the access flags (rxe_rereg_user_mr only stores them).
const PAGE = 4096
const S = SendFlags.SIGNALED

t.test('rxe_mr_fill_pages_from_sgt: FLUSH_PERSISTENT over a RAM buffer is EINVAL, over persistent memory accepted', async (t) => {
  const dev = new RdmaDevice({ sendTrain: () => {} })
  t.teardown(() => dev.close())
  const pd = dev.allocPd()
  t.throws(() => dev.regMr(pd, new Uint8Array(PAGE), PMEM_ACCESS), { code: ErrorCodes.EINVAL }, 'a user buffer: EINVAL')
  t.throws(() => dev.regMr(pd, PAGE, Access.LOCAL_WRITE | Access.FLUSH_PERSISTENT), { code: ErrorCodes.EINVAL }, 'fresh memory of a length: EINVAL')
  t.equal(dev.mrs.size, 0, 'the refusals registered nothing')
  t.ok(dev.regMr(pd, PAGE, ALL_ACCESS), 'FLUSH_GLOBAL alone is fine on RAM')
  t.ok(dev.regMemory(pd, new ContiguousMemory(new Uint8Array(PAGE), { persistent: true }), PMEM_ACCESS), 'memory that stands for pmem takes FLUSH_PERSISTENT')
  t.ok(dev.regMr(pd, 0, PMEM_ACCESS), 'no page, nothing to refuse')
  t.ok(dev.regMr(pd, PAGE, PMEM_ACCESS | Access.ON_DEMAND), 'ODP: no page pinned, not checked (rxe_odp_mr_init_user)')
  const mr = dev.regMr(pd, PAGE, ALL_ACCESS)
  dev.reregMr(mr, { access: PMEM_ACCESS })
  t.equal(mr.access, PMEM_ACCESS, 'rereg of the access flags is not checked (rxe_rereg_user_mr)')
})

t.test('rxe_mr_fill_pages_from_sgt on a server: anonymous and page-cache MRs refused, a DAX file MR accepted and flushed', async (t) => {
  const rc = await startRdmaCluster(t, { server: { policy: 'deny' } })
  const req = serverReq(rc)
  const pd = await rc.server.allocPd()

  await t.rejects(rc.server.regMr(pd, 4 * PAGE, PMEM_ACCESS), { code: ErrorCodes.EINVAL }, 'anonymous memory (verbs.mr.reg): EINVAL')
  const anon = await rc.server.regMr(pd, 4 * PAGE, ALL_ACCESS)
  t.ok(anon.stag, 'and without FLUSH_PERSISTENT it registers')
  await rc.server.deregMr(anon.stag)
  const odp = await rc.server.regMr(pd, 4 * PAGE, PMEM_ACCESS | Access.ON_DEMAND)
  t.ok(odp.stag, 'an ODP anonymous MR is not checked')
  await rc.server.deregMr(odp.stag)

  await req('fs.create', { name: 'cached.dat' })
  await req('fs.fallocate', { name: 'cached.dat', mode: 0, offset: 0, length: 4 * PAGE })
  await t.rejects(req('verbs.mr.regFile', { pd, file: 'cached.dat', offset: 0, length: 4 * PAGE, access: PMEM_ACCESS }), { code: ErrorCodes.EINVAL }, 'a page-cache file: EINVAL')

  await req('fs.create', { name: 'pmem.dat', dax: true })
  await req('fs.fallocate', { name: 'pmem.dat', mode: 0, offset: 0, length: 4 * PAGE })
  await t.rejects(req('verbs.mr.regFile', { pd, file: 'pmem.dat', offset: 0, length: 4 * PAGE, access: PMEM_ACCESS, mapping: 'private' }), { code: ErrorCodes.EINVAL }, 'a writable MAP_PRIVATE mapping of a DAX file pins anonymous copies: EINVAL')
  let s = await req('mem.stats')
  t.equal(s.mrs.file, 0, 'the refused file registrations left no MR')
  t.equal(s.pins.nr_foll_pin_acquired, s.pins.nr_foll_pin_released, 'and no pin')

  const c = await connect(rc, { serverBytes: 0 })
  const mr = await req('verbs.mr.regFile', { pd: c.serverPd, file: 'pmem.dat', offset: 0, length: 4 * PAGE, access: PMEM_ACCESS })
  t.equal(mr.access, PMEM_ACCESS, 'a DAX file MR takes FLUSH_PERSISTENT')
  const local = rc.local.device.regMr(c.pd, PAGE, ALL_ACCESS)
  const data = pattern(PAGE, 5)
  local.memory.view(0, PAGE)!.set(data)
  c.qp.postSend({ wrId: 1, opcode: WrOpcode.RDMA_WRITE, sgList: [{ addr: local.iova, length: PAGE, lkey: local.stag }], remoteAddr: mr.iova + PAGE, rkey: mr.stag })
  c.qp.postSend({ wrId: 2, opcode: WrOpcode.FLUSH, remoteAddr: mr.iova + PAGE, rkey: mr.stag, flush: { length: PAGE, plt: 2 }, sendFlags: S })
  const wc = await c.cq.next()
  t.equal(wc.wrId, 2)
  t.equal(wc.status, WcStatus.SUCCESS, 'a persistent FLUSH of it succeeds')
  t.same(Buffer.from(await req('fs.read', { name: 'pmem.dat', offset: PAGE, length: PAGE })), Buffer.from(data), 'the file has the bytes')
  await req('verbs.mr.dereg', { stag: mr.stag })
  s = await req('mem.stats')
  t.equal(s.pins.nr_foll_pin_acquired, s.pins.nr_foll_pin_released, 'pins acquired == released')
})

t.test('rxe_mr_fill_pages_from_sgt in a scenario: registerMemory with flushPersistent is refused by the loader', async (t) => {
  const config = loadConfig(join(ROOT, 'cluster.config.json'))
  const scenario = (step: object) => ({ name: 'pmem', policies: ['deny'], steps: [step] })
  t.throws(() => parseScenario(scenario({ do: 'registerMemory', as: 'm', bytes: PAGE, access: ['localWrite', 'remoteWrite', 'flushGlobal', 'flushPersistent'] }), config), {
    code: ErrorCodes.SCENARIO_INVALID,
    message: /steps\[0\]\.access: flushPersistent needs persistent memory, and anonymous memory is not \(the registration would fail with EINVAL/,
  }, 'anonymous memory with flushPersistent: one problem, naming the step')
  t.ok(parseScenario(scenario({ do: 'registerMemory', as: 'm', bytes: PAGE, access: ['localWrite', 'remoteWrite', 'flushGlobal'] }), config), 'flushGlobal alone is fine')
  t.ok(parseScenario(scenario({ do: 'registerMemory', as: 'm', bytes: PAGE, odp: true, access: ['localWrite', 'flushPersistent'] }), config), 'an ODP registration is not checked')
})
