// kv-layout: the record table of the one-sided key-value store (kv-server.mjs,
// kv-client.mjs), in one place: both sides address the same bytes, and both
// check a table the same way. All fields are little-endian, the byte order
// RDMA atomics use on this (x86-like) host memory.
//
//   offset 0               header, 64 bytes
//     0  u64 counter       the global counter: FETCH_ADD 1 per update
//     8  u32 records       how many records follow
//    12  u32 recordBytes   64
//   offset 64 + r * 64     record r, 64 bytes
//     0  u64 lock          0 free, else the holder's tag: CMP_SWAP 0 -> tag, tag -> 0
//     8  u64 version       bumped by every update
//    16  u32 key           r
//    20  u32 writer        the tag of the last writer (0: the server's initial value)
//    24  40 bytes value    valueByte(key, version, writer, i): a record is self-checking
//
// A torn or lost update (a version without its value, a value from someone
// else's version) fails check(); a lost increment makes the versions' sum
// differ from the counter.

export const HEADER_BYTES = 64
export const RECORD_BYTES = 64
export const LOCK = 0
export const VERSION = 8
export const KEY = 16
export const WRITER = 20
export const VALUE = 24
export const VALUE_BYTES = RECORD_BYTES - VALUE

/** Byte offset of record `r` in the table. */
export const recordOffset = (r) => HEADER_BYTES + r * RECORD_BYTES

/** Byte `i` of the value of record `key` at `version`, written by `writer`. */
export const valueByte = (key, version, writer, i) => (key * 31 + version * 7 + writer * 13 + i) & 0xff

/** A Buffer over the same bytes (no copy), for its readers and writers. */
export const view = (u8) => Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength)

/** Fill `rec` (a Buffer of RECORD_BYTES at least, from byte `at`) with a record body; the lock word is left alone. */
export function writeRecord(rec, at, { key, version, writer }) {
  rec.writeBigUInt64LE(BigInt(version), at + VERSION)
  rec.writeUInt32LE(key, at + KEY)
  rec.writeUInt32LE(writer, at + WRITER)
  for (let i = 0; i < VALUE_BYTES; i++) rec[at + VALUE + i] = valueByte(key, version, writer, i)
}

/** Decode record `key` at byte `at` of `rec` and check it is whole; throws on a torn or misplaced record. */
export function readRecord(rec, at, key) {
  const r = {
    lock: rec.readBigUInt64LE(at + LOCK),
    version: Number(rec.readBigUInt64LE(at + VERSION)),
    key: rec.readUInt32LE(at + KEY),
    writer: rec.readUInt32LE(at + WRITER),
  }
  if (r.key !== key) throw new Error(`record ${key}: holds key ${r.key}`)
  for (let i = 0; i < VALUE_BYTES; i++) {
    const want = valueByte(key, r.version, r.writer, i)
    if (rec[at + VALUE + i] !== want) throw new Error(`record ${key} version ${r.version}: value byte ${i} is ${rec[at + VALUE + i]}, expected ${want} (torn update)`)
  }
  return r
}

/**
 * Check a whole table (a Buffer of it): header, every record whole and
 * unlocked, and the counter equal to the sum of the versions (every update
 * both bumped a version and added 1). Returns what it found.
 */
export function checkTable(table) {
  const counter = Number(table.readBigUInt64LE(0))
  const records = table.readUInt32LE(8)
  if (table.readUInt32LE(12) !== RECORD_BYTES) throw new Error(`table header: recordBytes ${table.readUInt32LE(12)}, expected ${RECORD_BYTES}`)
  let versions = 0
  for (let key = 0; key < records; key++) {
    const r = readRecord(table, recordOffset(key), key)
    if (r.lock !== 0n) throw new Error(`record ${key} is still locked by ${r.lock}`)
    versions += r.version
  }
  if (versions !== counter) throw new Error(`the counter is ${counter} but the records' versions add up to ${versions}: an update was lost`)
  return { counter, records, versions }
}
