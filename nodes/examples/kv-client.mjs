// kv-client: a client of the one-sided key-value store (kv-server.mjs). It
// updates records in the server's memory with no help from the server's CPU,
// the way RDMA key-value stores (Pilaf, FaRM, HERD's READ side) do:
//
//   lock     CMP_SWAP  record.lock 0 -> my tag (retried while someone else holds it)
//   read     RDMA READ the record, and check it is whole (kv-layout.mjs)
//   update   RDMA WRITE the record's body: version + 1, my tag, the new value
//   unlock   CMP_SWAP  record.lock my tag -> 0 (it must still be mine)
//   count    FETCH_ADD the table's global counter by 1
//
// Several clients run this at once on the same few records; the locks keep
// their read-modify-writes from losing updates, and FETCH_ADD keeps the
// counter exact. At the end the client sends the server what it did, waits
// for the server's audit, then READs the whole table and checks it too:
// the counter must equal every client's updates, each record unlocked and
// whole, the versions adding up to the counter. Any check that fails throws.
//
//   args: [-n UPDATES] [-s SERVER_NODE]
//   rdma-emu up -c nodes/examples/kv-store.config.json
import { parseArgs } from 'node:util'
import { Access, SendFlags, WcStatus, wcStatusName, WrOpcode } from 'rdma-emu'
import { checkTable, HEADER_BYTES, LOCK, readRecord, RECORD_BYTES, recordOffset, VERSION, view, writeRecord } from './kv-layout.mjs'

export default async function (host) {
  const { values: opt } = parseArgs({
    args: [...host.args],
    options: {
      updates: { type: 'string', short: 'n', default: '200' },
      server: { type: 'string', short: 's', default: 'server0' },
    },
  })
  const updates = Number(opt.updates)
  const clients = host.nodesOf('client')
  const tag = clients.indexOf(host.id) + 1 // my lock value: never 0 (0 is "free")

  // Where the table is (the server's advertisement), and a connection to it.
  const { data: t } = await host.recv({ from: opt.server, tag: 'kv-table' })
  const conn = await host.cm.connect(opt.server, t.port)
  const { qp, cq } = conn

  // Local memory: 8 bytes where atomics return the old value, one record, and
  // room for the whole table at the end.
  const tableBytes = HEADER_BYTES + t.records * RECORD_BYTES
  const mr = conn.pd.regMr(Buffer.alloc(8 + RECORD_BYTES + tableBytes), Access.LOCAL_WRITE)
  const mem = view(mr.buffer)
  const OLD = 0
  const REC = 8
  const TABLE = 8 + RECORD_BYTES

  // One work request at a time: post it signaled, await its completion.
  const run = async (wr, what) => {
    qp.postSend({ ...wr, rkey: t.rkey, sendFlags: SendFlags.SIGNALED })
    const wc = await cq.next(10_000)
    if (wc.status !== WcStatus.SUCCESS) throw new Error(`${what} failed: ${wcStatusName(wc.status)}`)
  }
  const cmpSwap = async (remoteAddr, compare, swap, what) => {
    await run({ opcode: WrOpcode.ATOMIC_CMP_AND_SWP, sgList: [mr.sge(OLD, 8)], remoteAddr, compareAdd: compare, swap }, what)
    return mem.readBigUInt64LE(OLD) // the value before: the swap happened iff it equals `compare`
  }
  const fetchAdd = async (remoteAddr, add, what) => {
    await run({ opcode: WrOpcode.ATOMIC_FETCH_AND_ADD, sgList: [mr.sge(OLD, 8)], remoteAddr, compareAdd: add }, what)
    return mem.readBigUInt64LE(OLD)
  }

  // A small deterministic PRNG, so runs are repeatable: which record to update.
  let seed = 0x9e3779b9 ^ tag
  const nextRecord = () => {
    seed ^= seed << 13
    seed ^= seed >>> 17
    seed ^= seed << 5
    return (seed >>> 0) % t.records
  }

  const me = BigInt(tag)
  const tickets = []
  const lastSeen = new Array(t.records).fill(0)
  let lockRetries = 0
  let verifiedReads = 0
  const start = process.hrtime.bigint()
  for (let n = 0; n < updates; n++) {
    const key = nextRecord()
    const at = t.addr + recordOffset(key)

    // lock: CMP_SWAP 0 -> me, until it was 0.
    for (let tries = 0; ; tries++) {
      const old = await cmpSwap(at + LOCK, 0n, me, `update ${n}: lock record ${key}`)
      if (old === 0n) break
      if (tries > 100_000) throw new Error(`record ${key}: still locked by ${old} after ${tries} tries`)
      lockRetries++
    }

    // read and check: whole, ours to change, never older than we saw it.
    await run({ opcode: WrOpcode.RDMA_READ, sgList: [mr.sge(REC, RECORD_BYTES)], remoteAddr: at }, `update ${n}: READ record ${key}`)
    const rec = readRecord(mem, REC, key) // throws on a torn record
    if (rec.lock !== me) throw new Error(`record ${key}: read under our lock, but its lock word is ${rec.lock}`)
    if (rec.version < lastSeen[key]) throw new Error(`record ${key}: version went back from ${lastSeen[key]} to ${rec.version}`)
    verifiedReads++

    // update: WRITE everything but the lock word. Its completion means it is
    // placed in the server's memory, so the unlock below cannot overtake it.
    writeRecord(mem, REC, { key, version: rec.version + 1, writer: tag })
    await run({ opcode: WrOpcode.RDMA_WRITE, sgList: [mr.sge(REC + VERSION, RECORD_BYTES - VERSION)], remoteAddr: at + VERSION }, `update ${n}: WRITE record ${key}`)
    lastSeen[key] = rec.version + 1

    // unlock: CMP_SWAP me -> 0; anything but me there means the lock was broken.
    const held = await cmpSwap(at + LOCK, me, 0n, `update ${n}: unlock record ${key}`)
    if (held !== me) throw new Error(`record ${key}: unlocking, found lock ${held} instead of ours (${me})`)

    // count: FETCH_ADD 1 on the global counter; its old value is our ticket.
    tickets.push(Number(await fetchAdd(t.addr, 1n, `update ${n}: FETCH_ADD counter`)))
  }
  const ms = Number(process.hrtime.bigint() - start) / 1e6

  // Done: tell the server, wait for its audit, then READ the whole table and check it ourselves.
  await host.send(opt.server, { updates, tickets }, 'kv-done')
  const { data: verdict } = await host.recv({ from: opt.server, tag: 'kv-verdict' })
  if (!verdict.ok) throw new Error(`the server's audit failed (counter ${verdict.counter})`)
  await run({ opcode: WrOpcode.RDMA_READ, sgList: [mr.sge(TABLE, tableBytes)], remoteAddr: t.addr }, 'READ the table')
  const found = checkTable(view(mr.buffer.subarray(TABLE))) // throws on a torn record, a held lock, a lost update
  const expected = clients.length * updates // every client runs the same -n
  if (found.counter !== expected) throw new Error(`the counter is ${found.counter}, expected ${expected}`)

  console.log(`kv client ${host.id}: ${updates} locked updates in ${ms.toFixed(0)} ms (${((ms * 1000) / updates).toFixed(0)} usec each), ${lockRetries} lock retries, ${verifiedReads} reads verified; final counter ${found.counter} = ${clients.length} x ${updates}`)
  console.log(JSON.stringify({ example: 'kv-store', side: 'client', updates, lockRetries, verifiedReads, counter: found.counter, expected, versions: found.versions, ms }))
  await conn.disconnect()
}
