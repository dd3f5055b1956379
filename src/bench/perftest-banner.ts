/**
 * perftest's banner, line for line: the test information block
 * (ctx_print_test_info, perftest_parameters.c) and the local / remote
 * address lines of every QP (ctx_print_pingpong_data, perftest_communication.c),
 * with the emulated device's values. perftest's text depends on its build;
 * ours is that of a build without PCIe relaxed ordering and thread-domain
 * support (neither means anything on an emulated device).
 */
import { sprintf } from './c-format.ts'
import type { BenchOptions } from './bench-options.ts'
import type { QpAddress, QpAddresses } from './run-bench.ts'

/** perftest's RESULT_LINE (87 dashes). */
export const RESULT_LINE = '-'.repeat(87)

/**
 * The device bench reports: rxe0, as the first soft-RoCE device is named
 * (the emulator models a RoCEv2 device over Ethernet; its quirks follow
 * rxe's when the configuration asks for the rxe device model).
 */
export const EMU_DEVICE_NAME = 'rxe0'
/** The GID index the emulated port uses: one GID per port, the node's IPv4-mapped address. */
export const EMU_GID_INDEX = 0

/** perftest's testsStr for our verbs. */
const VERB_NAMES = { write: 'RDMA_Write', read: 'RDMA_Read', send: 'Send', atomic: 'Atomic' } as const

/**
 * What the banner says that the options decide. Each perftest option that
 * shows in the banner sets its field here (one place, bannerInfo()).
 */
export interface BannerInfo {
  device: string
  /** Per client node (-q). */
  qps: number
  useSrq: boolean
  txDepth: number
  /** CQ moderation: the workload signals every WR. */
  cqMod: number
  mtu: number
  gidIndex: number
  /** Write and send tests: inline bytes (none: perftest disables inline for devices it does not know). */
  inlineSize: number
  /** Read and atomic tests: -o. */
  outReads?: number
  rdmaCm: boolean
}

/** The banner's values: the device's, and what -d, -x, --use-srq, -Q (or -l), -I and -R set. */
export function bannerInfo(o: BenchOptions, mtu: number): BannerInfo {
  const p = o.perftest
  return {
    device: p.ibDev ?? EMU_DEVICE_NAME,
    qps: o.qps,
    useSrq: p.useSrq,
    txDepth: o.txDepth,
    cqMod: p.cqMod,
    mtu,
    gidIndex: p.gidIndex ?? EMU_GID_INDEX,
    inlineSize: p.inlineSize ?? 0,
    outReads: o.verb === 'read' || o.verb === 'atomic' ? o.outs : undefined,
    rdmaCm: p.rdmaCm,
  }
}

/** The title words of the test: "RDMA_Write BW", "Atomic FETCH_AND_ADD Latency", as perftest prints them. */
export function titleWords(o: Pick<BenchOptions, 'verb' | 'kind' | 'atomicType'>): string[] {
  return [VERB_NAMES[o.verb], ...(o.verb === 'atomic' ? [o.atomicType] : []), o.kind === 'bw' ? 'BW' : 'Latency', 'Test']
}

const onOff = (b: boolean) => (b ? 'ON' : 'OFF')

/** ctx_print_test_info's block, from the first RESULT_LINE to the last. */
export function testInfoLines(o: Pick<BenchOptions, 'verb' | 'kind' | 'atomicType'>, b: BannerInfo): string[] {
  const lines = [
    RESULT_LINE,
    `                    ${titleWords(o).join(' ')}`,
    ` Dual-port       : OFF\t\tDevice         : ${b.device}`,
    ` Number of qps   : ${b.qps}\t\tTransport type : IB`,
    ` Connection type : RC\t\tUsing SRQ      : ${onOff(b.useSrq)}`,
    ' PCIe relax order: Unsupported\t\tLock-free\t: Unsupported',
    ' ibv_wr* API     : OFF\t\tUsing Enhanced Reorder      : OFF',
    ` TX depth        : ${b.txDepth}`,
  ]
  if (o.kind === 'bw') lines.push(` CQ Moderation   : ${b.cqMod}`, ' CQE Poll Batch  : Dynamic')
  lines.push(` Mtu             : ${b.mtu}[B]`, ' Link type       : Ethernet', ` GID index       : ${b.gidIndex}`)
  lines.push(b.outReads === undefined ? ` Max inline data : ${b.inlineSize}[B]` : ` Outstand reads  : ${b.outReads}`)
  lines.push(` rdma_cm QPs\t : ${onOff(b.rdmaCm)}`, ` Data ex. method : ${b.rdmaCm ? 'rdma_cm' : 'Ethernet'}`, RESULT_LINE)
  return lines
}

/** A node's GID: the IPv4-mapped address its packets carry in --pcap captures (127.x.y.z, x.y.z = its place in the configuration + 1). */
export function nodeGid(index: number): Uint8Array {
  const v = index + 1
  return Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff)
}

/** PERF_GID_FMT: " GID: " and the 16 bytes, each as perftest prints them (%02d, decimal). */
export function gidLine(gid: Uint8Array): string {
  return ` GID: ${[...gid].map((x) => sprintf('%02d', x)).join(':')}`
}

/** BASIC_ADDR_FMT, then READ_FMT (read) and RDMA_FMT (read, write), as ctx_print_pingpong_data. */
export function addressLine(side: 'local' | 'remote', verb: BenchOptions['verb'], a: QpAddress): string {
  let line = sprintf(' %s address: LID %#04x QPN %#06x PSN %#06x', side, a.lid, a.qpn, a.psn)
  if (verb === 'read') line += sprintf(' OUT %#04x', a.outReads)
  if (verb === 'read' || verb === 'write') line += sprintf(' RKey %#08x VAddr %#016llx', a.rkey, a.vaddr)
  return line
}

/** Every QP's local address (then GID) lines, then every remote one, as perftest prints them after the exchange. */
export function addressLines(verb: BenchOptions['verb'], addresses: readonly QpAddresses[], gids: { local: Uint8Array; remote: Uint8Array }): string[] {
  return [
    ...addresses.flatMap((a) => [addressLine('local', verb, a.local), gidLine(gids.local)]),
    ...addresses.flatMap((a) => [addressLine('remote', verb, a.remote), gidLine(gids.remote)]),
  ]
}
