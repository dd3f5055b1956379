/**
 * `--pcap`: every data-plane packet a node sends, written to its capture
 * file as RoCEv2 (Ethernet + IPv4 + UDP 4791 + IBA + ICRC; fabric/pcap.ts).
 * Capturing what each node sends records every packet on the fabric exactly
 * once; the launcher merges the nodes' files into one (mergePcapFiles).
 * Nodes get addresses from their place in the configuration (127.0.0.1 is
 * the first node); hosts outside it (a test or an attached bench) get one
 * derived from their id.
 */
import { PcapWriter } from '../../fabric/pcap.ts'
import type { NodeContext } from './node-context.ts'

export interface Capture {
  onPacket: (dir: 'out' | 'in', peer: string, pkt: Uint8Array, original?: Uint8Array) => void
  close(): Promise<void>
}

export function openCapture(ctx: NodeContext): Capture {
  const writer = PcapWriter.open(ctx.pcap!)
  const index = new Map(ctx.cluster.nodes.map((n, i) => [n.id, i]))
  const numberOf = (id: string): number => {
    let n = index.get(id)
    if (n === undefined) {
      // Outside the configuration: a stable number above every node's.
      let h = 0
      for (let i = 0; i < id.length; i++) h = (Math.imul(h, 31) + id.charCodeAt(i)) >>> 0
      index.set(id, (n = 4096 + (h % 60000)))
    }
    return n
  }
  const self = numberOf(ctx.id)
  ctx.log.info({ pcap: ctx.pcap }, 'capturing sent data-plane packets')
  return {
    onPacket: (dir, peer, pkt, original) => {
      if (dir === 'out') writer.write(pkt, self, numberOf(peer), undefined, original)
    },
    close: async () => {
      await writer.close()
      ctx.log.info({ pcap: ctx.pcap, packets: writer.packets }, 'capture closed')
    },
  }
}
