// kv-server: the server side of a one-sided key-value store, as a program on
// a server node. Its CPU only sets up: it lays out a table of fixed-size
// records in its own memory (kv-layout.mjs), registers it for remote READ,
// WRITE and atomics, listens, and tells every client where the table is.
// From then on the clients' NICs do everything with one-sided verbs (READ,
// WRITE, CMP_SWAP, FETCH_ADD): this program never touches a request.
//
// When every client says it is done, the server audits its own memory (every
// record whole and unlocked, the counter equal to all updates), checks that
// the counter values the clients' FETCH_ADDs returned are each one of
// 0..total-1 exactly once, prints one JSON line and tells the clients the
// verdict. A failed audit throws.
//
//   args: [-r RECORDS] [-p PORT]       (its clients: kv-client.mjs)
//   rdma-emu up -c nodes/examples/kv-store.config.json
import { parseArgs } from 'node:util'
import { Access } from 'rdma-emu'
import { checkTable, HEADER_BYTES, RECORD_BYTES, recordOffset, writeRecord } from './kv-layout.mjs'

export default async function (host) {
  const { values: opt } = parseArgs({
    args: [...host.args],
    options: {
      records: { type: 'string', short: 'r', default: '16' },
      port: { type: 'string', short: 'p', default: '7471' },
    },
  })
  const records = Number(opt.records)
  const port = Number(opt.port)
  const clients = host.nodesOf('client')

  // The table, in this process's memory, registered for the clients' NICs.
  const table = Buffer.alloc(HEADER_BYTES + records * RECORD_BYTES)
  table.writeUInt32LE(records, 8)
  table.writeUInt32LE(RECORD_BYTES, 12)
  for (let key = 0; key < records; key++) writeRecord(table, recordOffset(key), { key, version: 0, writer: 0 })
  const pd = host.ctx.allocPd()
  const mr = pd.regMr(table, Access.LOCAL_WRITE | Access.REMOTE_READ | Access.REMOTE_WRITE | Access.REMOTE_ATOMIC)
  if (mr.addr % 8 !== 0) throw new Error(`table at ${mr.addr}: atomics need 8-byte alignment`)

  // Accept every client's connection in the background: the QPs are in our
  // PD, so they may touch the MR. There is nothing to do with them after.
  const listener = host.cm.listen(port, { pd })
  const connections = []
  void (async () => {
    for await (const conn of listener) connections.push(conn)
  })()

  // The advertisement: where the table is, and how big.
  for (const c of clients) await host.send(c, { addr: mr.addr, rkey: mr.rkey, records, port }, 'kv-table')
  console.log(`kv server: ${records} records of ${RECORD_BYTES} bytes at 0x${mr.addr.toString(16)} rkey 0x${mr.rkey.toString(16)}, serving ${clients.join(', ')}`)

  // Wait for every client's report: its updates, and the counter values its FETCH_ADDs returned.
  const reports = []
  for (const c of clients) reports.push({ from: c, ...(await host.recv({ from: c, tag: 'kv-done' })).data })
  listener.close()

  // The audit, by the server's CPU, of its own memory.
  const found = checkTable(table) // throws on a torn record, a held lock, a lost update
  const updates = reports.reduce((n, r) => n + r.updates, 0)
  const tickets = reports.flatMap((r) => r.tickets).sort((a, b) => a - b)
  const ticketsExact = tickets.length === updates && tickets.every((v, i) => v === i)
  const result = { example: 'kv-store', side: 'server', clients: clients.length, connections: connections.length, records, updates, counter: found.counter, versions: found.versions, ticketsExact }
  console.log(`kv server: counter ${found.counter} after ${updates} updates from ${clients.length} clients; versions add up to ${found.versions}; FETCH_ADD results ${ticketsExact ? 'each 0..' + (updates - 1) + ' once' : 'NOT unique'}`)
  console.log(JSON.stringify(result))
  const ok = found.counter === updates && ticketsExact
  for (const c of clients) await host.send(c, { ok, counter: found.counter }, 'kv-verdict')
  if (!ok) throw new Error(`kv server: counter ${found.counter}, expected ${updates}; FETCH_ADD results exact: ${ticketsExact}`)
  // The clients READ the table once more after the verdict: keep it registered
  // (it goes with the node when the cluster stops).
}
