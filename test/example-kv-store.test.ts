import t from 'tap'
import { pidsMatching } from './cluster-helpers.ts'
import { runExample } from './helpers/examples.ts'

// nodes/examples/kv-server.mjs and kv-client.mjs through their own
// configuration: a table of 16 records in the server program's memory, two
// clients each making 200 locked updates at once with one-sided verbs only
// (CMP_SWAP lock, READ, WRITE, CMP_SWAP unlock, FETCH_ADD counter). The
// server audits its memory and the FETCH_ADD results; each client READs the
// table back and checks it.
t.test('example - kv-store: one-sided WRITE/READ records, CMP_SWAP locks, FETCH_ADD counter exact with two clients', async (t) => {
  const r = await runExample(t, 'kv-store.config.json')
  t.equal(r.code, 0, `up exits 0 (${r.ms} ms) ${r.stderr}`)
  t.match(r.results.server0, { example: 'kv-store', side: 'server', clients: 2, connections: 2, records: 16, updates: 400, counter: 400, versions: 400, ticketsExact: true },
    "the server's audit: counter 400 = 2 x 200, the versions add up to it, every FETCH_ADD returned a distinct 0..399")
  for (const id of ['client0', 'client1']) {
    t.match(r.results[id], { example: 'kv-store', side: 'client', updates: 200, verifiedReads: 200, counter: 400, expected: 400, versions: 400 }, `${id} read back the exact final counter and a whole table`)
  }
  t.comment(`lock retries (contention between the two clients): client0 ${r.results.client0?.lockRetries}, client1 ${r.results.client1?.lockRetries}`)
  t.same(r.leftBehind, [], 'no node process remains (by PID)')
  t.same(pidsMatching(r.runDir), [], 'no process of the run remains')
})
