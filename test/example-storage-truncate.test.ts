import t, { type Test } from 'tap'
import { pidsMatching } from './cluster-helpers.ts'
import { runExample, type ExampleRun } from './helpers/examples.ts'

// nodes/examples/storage-truncate-server.mjs ("process B" on server0) and
// storage-truncate-client.mjs (RDMA WRITEs through a file-backed MR over
// A.dat) through the two shipped configurations: the server program
// truncates A.dat under the WRITEs, creates B.dat on the freed blocks, and
// reports what the policy did. Each program checks the outcome against the
// policy's documented behaviour itself; the test checks the report.
const PAGE = 4096

async function race(t: Test, policy: string): Promise<{ r: ExampleRun; server: Record<string, unknown>; client: Record<string, unknown> }> {
  const r = await runExample(t, `storage-truncate.${policy}.config.json`)
  t.equal(r.code, 0, `up exits 0 (${r.ms} ms) ${r.stderr}`)
  t.match(r.out.server0, new RegExp(`as documented for ${policy}`), 'the server program found the documented outcome')
  t.same(r.leftBehind, [], 'no node process remains (by PID)')
  t.same(pidsMatching(r.runDir), [], 'no process of the run remains')
  return { r, server: r.results.server0 ?? {}, client: r.results.client0 ?? {} }
}

t.test('example - storage-truncate: a server program truncates a file under a client writing through a file-backed STag', async (t) => {
  await t.test('unsafe-gup: truncate ok, the NIC corrupts B.dat, which got the freed blocks', async (t) => {
    const { server: s, client: c } = await race(t, 'unsafe-gup')
    t.match(s, { example: 'storage-truncate', policy: 'unsafe-gup', registration: 'ok', pinsAcquired: 16, truncate: 'ok', sizeAfter: PAGE }, 'pinned 16 pages, the truncate went through')
    t.ok((s.corruptBytes as number) > 0, `the oracle counted ${s.corruptBytes} corrupt bytes`)
    // The victim is B.dat; WRITEs that land between the truncate and B.dat's
    // allocation hit blocks nobody owns, which the oracle names "free".
    const victims = (s.victims as Array<{ file: string }>).map((v) => v.file)
    t.ok(victims.includes('B.dat'), `B.dat is a victim (${victims.join(', ')})`)
    t.same(victims.filter((v) => v !== 'B.dat' && v !== 'free'), [], 'no other victim than B.dat (and free blocks)')
    t.ok((s.bChangedBytes as number) > 0, `B.dat really changed (${s.bChangedBytes} bytes)`)
    t.match(s.policyCounters, { layoutFailed: 0, pinRefusals: 0 }, 'the policy refused nothing')
    t.match(c, { side: 'client', registration: 'ok', truncate: 'ok', errors: 0 }, `all ${c.completed} WRITEs succeeded: the NIC never noticed`)
  })
  await t.test('deny: truncate fails with ETXTBSY, nothing corrupted', async (t) => {
    const { server: s, client: c } = await race(t, 'deny')
    t.match(s, { example: 'storage-truncate', policy: 'deny', registration: 'ok', pinsAcquired: 16, truncate: 'ETXTBSY', sizeAfter: 16 * PAGE }, 'pinned 16 pages, the truncate refused, A.dat kept its size')
    t.equal(s.corruptBytes, 0, 'the oracle counted no corrupt byte')
    t.same(s.victims, [], 'no victim')
    t.equal(s.bChangedBytes, 0, 'B.dat intact')
    t.match(s.policyCounters, { layoutFailed: 1 }, 'one layout change refused')
    t.match(c, { side: 'client', registration: 'ok', truncate: 'ETXTBSY', errors: 0 }, `all ${c.completed} WRITEs succeeded`)
  })
})
