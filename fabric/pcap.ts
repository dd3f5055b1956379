/**
 * Capture writer: every data-plane packet as a classic pcap record (linktype
 * 1, Ethernet) of Ethernet + IPv4 + UDP (dst port 4791) + IBA packet + ICRC,
 * i.e. what RoCEv2 would put on the wire, so Wireshark's infiniband dissector
 * decodes it.
 *
 * Node n appears as MAC 02:00:00:xx:xx:xx and IPv4 127.x.y.z, both carrying
 * n + 1 in their low 24 bits (node 0 is 127.0.0.1).
 */
import { closeSync, existsSync, openSync, readFileSync, writeSync } from 'node:fs'
import { EmuError, ErrorCodes } from '../src/errors.ts'
import { Params } from '../src/params.ts'
import { performance } from 'node:perf_hooks'
import { ICRC_SIZE, icrcIpv4, writeIcrc } from './icrc.ts'

/** IANA UDP port for RoCEv2. */
export const ROCE_V2_PORT = 4791
/** First ephemeral port; node n sends from ROCE_SRC_PORT_BASE + n. */
export const ROCE_SRC_PORT_BASE = 49152
export const LINKTYPE_ETHERNET = 1
/** Classic pcap, microsecond timestamps. */
export const PCAP_MAGIC = 0xa1b2c3d4
export const PCAP_SNAPLEN = 262144
export const PCAP_GLOBAL_HEADER_BYTES = 24
export const PCAP_RECORD_HEADER_BYTES = 16

const ETH_BYTES = 14
const IPV4_BYTES = 20
const UDP_BYTES = 8
/** Ethernet + IPv4 + UDP + ICRC around every IBA packet. */
export const ROCE_V2_OVERHEAD = ETH_BYTES + IPV4_BYTES + UDP_BYTES + ICRC_SIZE
const BTH_BYTES = 12

// Writers still open at process exit are flushed synchronously, so a capture
// survives process.exit() without anyone awaiting close().
const openWriters = new Set<PcapWriter>()
let exitHookInstalled = false
function flushAllOnExit(): void {
  for (const w of openWriters) {
    try {
      w.flushSync()
    } catch {
      // Exiting anyway; a partial capture is the best we can do.
    }
  }
}

export interface PcapWriterOptions {
  /** Bytes buffered before a write to disk (default 1 MiB). */
  bufferBytes?: number
}

export class PcapWriter {
  readonly path: string
  private fd: number
  private buf: Uint8Array
  private used = 0
  private ipId = 0
  private closed = false
  /** Records written so far. */
  packets = 0

  private constructor(path: string, fd: number, bufferBytes: number) {
    this.path = path
    this.fd = fd
    this.buf = new Uint8Array(Math.max(bufferBytes, PCAP_GLOBAL_HEADER_BYTES + PCAP_RECORD_HEADER_BYTES + 64))
    const dv = new DataView(this.buf.buffer)
    // Written in host (little-endian) order; readers detect it from the magic.
    dv.setUint32(0, PCAP_MAGIC, true)
    dv.setUint16(4, 2, true)
    dv.setUint16(6, 4, true)
    dv.setInt32(8, 0, true) // thiszone
    dv.setUint32(12, 0, true) // sigfigs
    dv.setUint32(16, PCAP_SNAPLEN, true)
    dv.setUint32(20, LINKTYPE_ETHERNET, true)
    this.used = PCAP_GLOBAL_HEADER_BYTES
  }

  /** Create (truncate) `path` and write the pcap global header. */
  static open(path: string, opts: PcapWriterOptions = {}): PcapWriter {
    const fd = openSync(path, 'w')
    const w = new PcapWriter(path, fd, opts.bufferBytes ?? Params.pcapBufferBytes)
    w.flushSync()
    openWriters.add(w)
    if (!exitHookInstalled) {
      exitHookInstalled = true
      process.on('exit', flushAllOnExit)
    }
    return w
  }

  /**
   * Append one IBA packet (BTH .. pad, no ICRC) sent from node `src` to node
   * `dst`. `tsMs` is a wall-clock time in ms (fractions kept to the
   * microsecond); default now. `original`: the packet as it was before a
   * fault flipped a bit in it (same length): the record then holds the
   * corrupted bytes with the original's ICRC, as the frame went on the wire,
   * so a reader's ICRC check flags it. Writes after close() are ignored.
   */
  write(packet: Uint8Array, src: number, dst: number, tsMs?: number, original?: Uint8Array): void {
    if (this.closed) return
    const frameLen = ROCE_V2_OVERHEAD + packet.length
    const recLen = PCAP_RECORD_HEADER_BYTES + frameLen
    if (this.used + recLen > this.buf.length) {
      this.flushSync()
      if (recLen > this.buf.length) this.buf = new Uint8Array(recLen)
    }
    const b = this.buf
    let o = this.used

    const ts = tsMs ?? performance.timeOrigin + performance.now()
    const sec = Math.floor(ts / 1000)
    const usec = Math.min(999999, Math.floor((ts - sec * 1000) * 1000))
    const incl = Math.min(frameLen, PCAP_SNAPLEN)
    putLe32(b, o, sec)
    putLe32(b, o + 4, usec)
    putLe32(b, o + 8, incl)
    putLe32(b, o + 12, frameLen)
    o += PCAP_RECORD_HEADER_BYTES

    // Ethernet II
    putMac(b, o, dst)
    putMac(b, o + 6, src)
    b[o + 12] = 0x08
    b[o + 13] = 0x00
    o += ETH_BYTES

    // IPv4, no options
    const ip = o
    const ipLen = IPV4_BYTES + UDP_BYTES + packet.length + ICRC_SIZE
    const id = this.ipId
    this.ipId = (id + 1) & 0xffff
    b[ip] = 0x45
    b[ip + 1] = 0 // DSCP/ECN
    putBe16(b, ip + 2, ipLen)
    putBe16(b, ip + 4, id)
    putBe16(b, ip + 6, 0x4000) // DF
    b[ip + 8] = 64 // TTL
    b[ip + 9] = 17 // UDP
    putBe16(b, ip + 10, 0)
    putIp(b, ip + 12, src)
    putIp(b, ip + 16, dst)
    putBe16(b, ip + 10, ipv4Checksum(b, ip))
    o += IPV4_BYTES

    // UDP; checksum 0 (not computed), as rxe sends it
    putBe16(b, o, ROCE_SRC_PORT_BASE + (src & 0x3fff))
    putBe16(b, o + 2, ROCE_V2_PORT)
    putBe16(b, o + 4, UDP_BYTES + packet.length + ICRC_SIZE)
    putBe16(b, o + 6, 0)
    o += UDP_BYTES

    const iba = o
    b.set(original && original.length === packet.length ? original : packet, o)
    o += packet.length
    // A packet too short to hold a BTH (fault injection) gets a zero ICRC.
    writeIcrc(b, o, packet.length >= BTH_BYTES ? icrcIpv4(b, ip, packet.length) : 0)
    if (original) b.set(packet, iba)
    o += ICRC_SIZE

    // Snap length is far above any frame we make; truncate defensively anyway.
    this.used = o - (frameLen - incl)
    this.packets++
  }

  /** Append a whole record (header and frame) taken from another capture. */
  writeRecord(record: Uint8Array): void {
    if (this.closed) return
    if (this.used + record.length > this.buf.length) {
      this.flushSync()
      if (record.length > this.buf.length) this.buf = new Uint8Array(record.length)
    }
    this.buf.set(record, this.used)
    this.used += record.length
    this.packets++
  }

  /** Write everything buffered to the file now. */
  flushSync(): void {
    let off = 0
    while (off < this.used) off += writeSync(this.fd, this.buf, off, this.used - off)
    this.used = 0
  }

  /** Flush and close the file. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    openWriters.delete(this)
    try {
      this.flushSync()
    } finally {
      closeSync(this.fd)
    }
  }
}

function putLe32(b: Uint8Array, o: number, v: number): void {
  b[o] = v
  b[o + 1] = v >>> 8
  b[o + 2] = v >>> 16
  b[o + 3] = v >>> 24
}

function putBe16(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 8
  b[o + 1] = v
}

/** Locally administered unicast MAC 02:00:00 + (node + 1) in 24 bits. */
function putMac(b: Uint8Array, o: number, node: number): void {
  const v = node + 1
  b[o] = 0x02
  b[o + 1] = 0
  b[o + 2] = 0
  b[o + 3] = v >>> 16
  b[o + 4] = v >>> 8
  b[o + 5] = v
}

/** 127.0.0.0/8 address carrying node + 1 in its low 24 bits. */
function putIp(b: Uint8Array, o: number, node: number): void {
  const v = node + 1
  b[o] = 127
  b[o + 1] = v >>> 16
  b[o + 2] = v >>> 8
  b[o + 3] = v
}

/** RFC 791 header checksum of the 20-byte header at `o` (checksum field included as stored). */
export function ipv4Checksum(b: Uint8Array, o: number): number {
  let sum = 0
  for (let i = 0; i < IPV4_BYTES; i += 2) sum += (b[o + i] << 8) | b[o + i + 1]
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16)
  return ~sum & 0xffff
}

/**
 * Merge pcap files written by PcapWriter (one per node) into `output`, in
 * timestamp order (each input is already in order: a k-way merge). Missing
 * inputs (a node that never started) are skipped. Returns the records
 * written. Throws EmuError(BAD_PACKET) naming a file that is not such a pcap.
 */
export function mergePcapFiles(inputs: readonly string[], output: string): number {
  const files = inputs.filter((f) => existsSync(f)).map((f) => {
    const b = readFileSync(f)
    if (b.length < PCAP_GLOBAL_HEADER_BYTES || b.readUInt32LE(0) !== PCAP_MAGIC) {
      throw new EmuError(ErrorCodes.BAD_PACKET, `${f}: not a little-endian microsecond pcap file`)
    }
    return { name: f, b, at: PCAP_GLOBAL_HEADER_BYTES }
  })
  const w = PcapWriter.open(output)
  const ts = (f: { b: Buffer; at: number }): number => f.b.readUInt32LE(f.at) * 1e6 + f.b.readUInt32LE(f.at + 4)
  let records = 0
  try {
    for (;;) {
      let next: (typeof files)[number] | undefined
      for (const f of files) {
        if (f.at + PCAP_RECORD_HEADER_BYTES > f.b.length) continue
        if (!next || ts(f) < ts(next)) next = f
      }
      if (!next) break
      const len = PCAP_RECORD_HEADER_BYTES + next.b.readUInt32LE(next.at + 8)
      if (next.at + len > next.b.length) {
        // A node killed mid-write leaves a partial last record: drop it.
        next.at = next.b.length
        continue
      }
      w.writeRecord(next.b.subarray(next.at, next.at + len))
      next.at += len
      records++
    }
  } finally {
    void w.close()
  }
  return records
}
