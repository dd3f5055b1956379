import { serverReq } from './helpers/odp.ts'
import t from 'tap'
import { writeFileSync } from 'node:fs'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { startRdmaCluster, ALL_ACCESS } from './helpers/rdma-cluster.ts'
import { startClientScript } from './cluster-helpers.ts'
import { Access } from '../src/verbs/constants.ts'
import { ErrorCodes } from '../src/errors.ts'

// Registration pins every page of an MR once (FOLL_PIN | FOLL_LONGTERM, bias
// 1024 per pin); deregistration and the death of the registering process drop
// exactly those pins: nr_foll_pin_acquired == nr_foll_pin_released.
const PAGE = 4096
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const FABRIC = { heartbeatIntervalMs: 100, heartbeatTimeoutMs: 1000 }

t.test('pins - exact per page while registered, released on dereg and on client exit', async (t) => {
  // Long-term pins on a DAX file: a policy that allows them (upstream refuses them).
  const rc = await startRdmaCluster(t, { fabric: FABRIC, server: { policy: 'deny' } })
  const req = serverReq(rc)
  const stats = () => req('mem.stats', null)
  const base = (await stats()).pins
  const name = 'pinned.dat'
  await req('fs.create', { name, dax: true })
  await req('fs.fallocate', { name, mode: 0, offset: 0, length: 4 * PAGE })
  const pd = await rc.server.allocPd()

  await t.test('pins - overlapping MRs pin each page once per MR', async (t) => {
    const a = await req('verbs.mr.regFile', { pd, file: name, offset: 0, length: 3 * PAGE, access: ALL_ACCESS })
    // Pages 1..3: starts and ends mid-page.
    const b = await req('verbs.mr.regFile', { pd, file: name, offset: PAGE + 5, length: 2 * PAGE + 10, access: Access.REMOTE_READ })
    let pc = await req('mem.pinCounts', { file: name })
    t.same(pc.pins, [1, 2, 2, 1])
    t.same(pc.refcounts, [1024, 2048, 2048, 1024], 'GUP_PIN_COUNTING_BIAS per pin')
    let s = await stats()
    t.equal(s.pins.nr_foll_pin_acquired - base.nr_foll_pin_acquired, 6)
    t.equal(s.pins.longterm_acquired - base.longterm_acquired, 6, 'FOLL_LONGTERM')
    t.equal(s.mrs.file, 2)

    await req('verbs.mr.dereg', { stag: a.stag })
    pc = await req('mem.pinCounts', { file: name })
    t.same(pc.pins, [0, 1, 1, 1], 'dereg drops exactly its own pins')
    await req('verbs.mr.dereg', { stag: b.stag })
    pc = await req('mem.pinCounts', { file: name })
    t.same(pc.pins, [0, 0, 0, 0])
    s = await stats()
    t.equal(s.pins.nr_foll_pin_acquired, s.pins.nr_foll_pin_released, 'acquired == released')
    t.equal(s.pins.longterm_acquired, s.pins.longterm_released)
    t.equal(s.pins.pinned_frames, 0)
    t.equal(s.mrs.file, 0)
  })

  // The server's own registration path (the in-process engine-access-errors test covers the device's).
  await t.test('pins - a registration refused for its access flags takes no pins', async (t) => {
    const before = (await stats()).pins
    await t.rejects(rc.server.regMr(pd, 64, Access.REMOTE_WRITE), { code: ErrorCodes.EINVAL }, 'REMOTE_WRITE without LOCAL_WRITE is refused over the control plane')
    await t.rejects(req('verbs.mr.regFile', { pd, file: name, offset: 0, length: PAGE, access: Access.REMOTE_ATOMIC }), { code: ErrorCodes.EINVAL }, 'for a file MR too')
    const after = (await stats()).pins
    t.equal(after.nr_foll_pin_acquired, before.nr_foll_pin_acquired, 'no pin taken')
    t.equal(after.pinned_frames, before.pinned_frames)
  })

  await t.test('pins - a killed client process loses its MRs and pins', async (t) => {
    const dir = t.testdir()
    const script = path.join(dir, 'client.ts')
    writeFileSync(script, `
import { ZmqTransport } from ${JSON.stringify(path.join(root, 'fabric/zmq-transport.ts'))}
import { ControlPlane } from ${JSON.stringify(path.join(root, 'fabric/control-plane.ts'))}
const [endpoint, server] = process.argv.slice(2)
const transport = new ZmqTransport('app-client', { bind: 'tcp://127.0.0.1:0', ...${JSON.stringify(FABRIC)} })
await transport.start()
transport.connect(server!, endpoint!)
const control = new ControlPlane(transport)
const { pd } = await control.request(server!, 'verbs.pd.alloc')
const file = await control.request(server!, 'verbs.mr.regFile', { pd, file: ${JSON.stringify(name)}, offset: 0, length: ${4 * PAGE}, access: ${ALL_ACCESS} })
const anon = await control.request(server!, 'verbs.mr.reg', { pd, length: ${3 * PAGE}, access: ${ALL_ACCESS} })
process.stdout.write(JSON.stringify({ file: file.stag, anon: anon.stag }) + '\\n')
setInterval(() => {}, 1000) // stay alive until killed
`)
    const { child, exited } = await startClientScript(t, script, [rc.cluster.node(rc.serverId).endpoint, rc.serverId], root)

    const pc = await req('mem.pinCounts', { file: name })
    t.same(pc.pins, [1, 1, 1, 1], 'the client process holds one pin per file page')
    let s = await stats()
    t.equal(s.pins.nr_foll_pin_acquired - s.pins.nr_foll_pin_released, 4 + 3, '4 file pages + 3 anonymous pages pinned')
    t.equal(s.mrs.file, 1)
    t.equal(s.mrs.anon, 1)
    const ownersBefore = s.pins.owners_released

    child.kill('SIGKILL')
    t.equal(await exited, 'SIGKILL')
    // The server notices the death after its heartbeat timeout.
    const deadline = Date.now() + 4000
    while (Date.now() < deadline) {
      s = await stats()
      if (s.pins.nr_foll_pin_acquired === s.pins.nr_foll_pin_released) break
      await new Promise((r) => setTimeout(r, 100))
    }
    t.equal(s.pins.nr_foll_pin_acquired, s.pins.nr_foll_pin_released, 'acquired == released after the client died')
    t.equal(s.pins.longterm_acquired, s.pins.longterm_released)
    t.equal(s.pins.pinned_frames, 0)
    t.equal(s.pins.owners_released - ownersBefore, 2, 'both MRs released as dead owners')
    t.same(s.mrs, { file: 0, anon: 0, device: 0 }, 'its MRs are gone')
    t.same((await req('mem.pinCounts', { file: name })).pins, [0, 0, 0, 0])
  })
})
