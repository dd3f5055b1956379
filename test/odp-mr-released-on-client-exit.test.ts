import t from 'tap'
import { writeFileSync } from 'node:fs'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { startRdmaCluster, ALL_ACCESS } from './helpers/rdma-cluster.ts'
import { startClientScript } from './cluster-helpers.ts'
import { PAGE, serverReq, stats } from './helpers/odp.ts'
import { Access } from '../src/verbs/constants.ts'

// ODP MRs are cleaned up like any other: a client process registers an
// anonymous and a file ODP MR, faults them in, and is killed; the server
// deregisters both, unmaps them and frees the anonymous frames. No pin was
// ever involved. Explicit deregistration does the same.
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const FABRIC = { heartbeatIntervalMs: 100, heartbeatTimeoutMs: 1000 }
const ODP = ALL_ACCESS | Access.ON_DEMAND

t.test('odp - MRs released on deregistration and on client exit', async (t) => {
  const rc = await startRdmaCluster(t, { fabric: FABRIC })
  const req = serverReq(rc)
  await req('fs.create', { name: 'odp.dat', dax: true })
  await req('fs.write', { name: 'odp.dat', offset: 0, data: new Uint8Array(4 * PAGE).fill(1) })
  const base = await stats(rc)

  await t.test('deregistration', async (t) => {
    const pd = await rc.server.allocPd()
    const anon = await rc.server.regMr(pd, 3 * PAGE, ODP)
    const file = await req('verbs.mr.regFile', { pd, file: 'odp.dat', offset: 0, length: 4 * PAGE, access: ODP })
    await rc.server.adviseMr(anon.stag, 1, 1)
    await rc.server.adviseMr(file.stag, 1, 1)
    let s = await stats(rc)
    t.equal(s.odp.mrs, 2)
    t.equal(base.freeRamFrames - s.freeRamFrames, 3, 'three anonymous frames in use')
    await rc.server.deregMr(anon.stag)
    await rc.server.deregMr(file.stag)
    s = await stats(rc)
    t.equal(s.odp.mrs, 0)
    t.equal(s.freeRamFrames, base.freeRamFrames, 'anonymous frames freed')
    t.ok(s.odp.pagesInvalidated - base.odp.pagesInvalidated >= 7, 'every mapped page was unmapped')
    t.same(s.pins, base.pins, 'no pins')
  })

  await t.test('a killed client process loses its ODP MRs', async (t) => {
    const dir = t.testdir()
    const script = path.join(dir, 'client.ts')
    writeFileSync(script, `
import { ZmqTransport } from ${JSON.stringify(path.join(root, 'fabric/zmq-transport.ts'))}
import { ControlPlane } from ${JSON.stringify(path.join(root, 'fabric/control-plane.ts'))}
const [endpoint, server] = process.argv.slice(2)
const transport = new ZmqTransport('odp-client', { bind: 'tcp://127.0.0.1:0', ...${JSON.stringify(FABRIC)} })
await transport.start()
transport.connect(server!, endpoint!)
const control = new ControlPlane(transport)
const { pd } = await control.request(server!, 'verbs.pd.alloc')
const file = await control.request(server!, 'verbs.mr.regFile', { pd, file: 'odp.dat', offset: 0, length: ${4 * PAGE}, access: ${ODP} })
const anon = await control.request(server!, 'verbs.mr.reg', { pd, length: ${3 * PAGE}, access: ${ODP} })
for (const stag of [file.stag, anon.stag]) await control.request(server!, 'verbs.mr.advise', { stag, advice: 1, flags: 1 })
process.stdout.write(JSON.stringify({ file: file.stag, anon: anon.stag }) + '\\n')
setInterval(() => {}, 1000) // stay alive until killed
`)
    const { child, exited } = await startClientScript(t, script, [rc.cluster.node(rc.serverId).endpoint, rc.serverId], root)
    let s = await stats(rc)
    t.equal(s.odp.mrs, 2, 'the client holds two ODP MRs')
    t.equal(base.freeRamFrames - s.freeRamFrames, 3)
    t.same(s.pins, base.pins, 'and no pins')

    child.kill('SIGKILL')
    t.equal(await exited, 'SIGKILL')
    const deadline = Date.now() + 4000
    while (Date.now() < deadline) {
      s = await stats(rc)
      if (s.odp.mrs === 0) break
      await new Promise((r) => setTimeout(r, 100))
    }
    t.equal(s.odp.mrs, 0, 'its ODP MRs are gone after the heartbeat timeout')
    t.same(s.mrs, { file: 0, anon: 0, device: 0 })
    t.equal(s.freeRamFrames, base.freeRamFrames, 'its anonymous frames were freed')
    t.same(s.pins, base.pins, 'no pins at any point')
    // The file is untouched by the clean-up and can be truncated at once.
    await req('fs.truncate', { name: 'odp.dat', size: 0 })
    t.equal(s.oracle.corruptBytes, 0)
  })
})
