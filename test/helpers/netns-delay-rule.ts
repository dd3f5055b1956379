/**
 * Run inside a network namespace (`ip netns exec NS node --import tsx THIS ...`):
 * attach to the cluster of RUN and add, or remove, the emulator's own delay
 * fault on NODE's data packets to PEER (fabric.faults.add, a netem rule).
 *   add RUN NODE PEER MS | remove RUN NODE
 */
import { attachCluster, readClusterFile } from '../../src/launcher/attach-cluster.ts'

export const RULE_ID = 'netns-delay'
const [op, run, node, peer, ms] = process.argv.slice(2)
const cluster = await attachCluster(readClusterFile(run!), { name: 'netns-delay' })
try {
  if (op === 'add') await cluster.control.request(node!, 'fabric.faults.add', { rule: { id: RULE_ID, seed: 1, from: [node!], to: [peer!], delay: { ms: Number(ms) } } })
  else await cluster.control.request(node!, 'fabric.faults.remove', { id: RULE_ID })
  process.stdout.write(`${op} ${RULE_ID} on ${node}: ok\n`)
} finally {
  await cluster.close()
}
process.exit(0)
