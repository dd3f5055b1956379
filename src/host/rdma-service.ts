import type { Logger } from 'pino'
import { FaultInjector, type FaultOptions } from '../../fabric/faults.ts'
import { trainPool } from '../../fabric/train-pool.ts'
import { ConnectionManager } from '../verbs/cm.ts'
import { RdmaDevice, type DeviceOptions } from '../verbs/device.ts'
import { RemoteVerbsService } from '../verbs/remote-verbs-service.ts'
import { attachFabricFaults } from './fabric-faults-service.ts'
import type { ControlPlane } from '../../fabric/control-plane.ts'

/**
 * One host's RDMA stack on the fabric: the device (data plane on DATA
 * frames), the connection manager and the remote-verbs service (control
 * plane). A peer that goes down takes its QPs and MRs with it.
 *
 * "Down" means a process that is gone: the launcher's `peer.gone` notice
 * (src/host/node-host.ts marks the peer down at once), or, for nodes no
 * launcher watches, the heartbeat timeout as the fallback. What happens here
 * then, on every surviving host:
 * - every QP whose remote end is that peer goes to ERR (device.peerLost):
 *   its outstanding WRs complete with WR_FLUSH_ERR, as when an RC connection
 *   breaks; the application reconnects with a new QP (rdma_cm) if it wants;
 * - what the peer owned here (QPs it created or that were accepted for it,
 *   MRs it registered, listeners) is destroyed or deregistered
 *   (verbs.releaseOwner); on a server the MR registry, short-term pins and
 *   layout leases follow (src/server/server-host.ts);
 * - a peer that comes back (a restarted node) is a new peer: nothing of its
 *   old process is left to find, and connecting to it again works.
 */
export interface RdmaService {
  device: RdmaDevice
  cm: ConnectionManager
  verbs: RemoteVerbsService
  close(): void
}

export function attachRdma(control: ControlPlane, opts: DeviceOptions & { log?: Logger } = {}): RdmaService {
  const device = new RdmaDevice(control, { nodeId: control.transport.id, ...opts })
  const cm = new ConnectionManager(device, control)
  const verbs = new RemoteVerbsService(device, cm, control)
  control.onData((from, packets, icrc) => device.receiveTrain(from, packets, icrc))
  const detachFaults = attachFabricFaults(control, device)
  device.onQpError = (qp, reason) => opts.log?.debug({ qpn: qp.qpNum, reason }, 'QP to ERR')
  cm.onDisconnect = (qp) => {
    if (qp.owner) device.destroyQp(qp)
  }
  const onPeer = (info: { id: string; state: string }): void => {
    if (info.state !== 'down') return
    device.peerLost(info.id)
    const released = verbs.releaseOwner(info.id)
    opts.log?.info({ peer: info.id, ...released }, 'peer down: its QPs and MRs released')
  }
  control.transport.on('peer', onPeer)
  control.handle('rdma.faults', (b: FaultOptions | null) => {
    device.faults = b ? new FaultInjector(b) : undefined
    return {}
  })
  control.handle('rdma.faultCounters', () => device.faults?.counters ?? null)
  return {
    device,
    cm,
    verbs,
    close() {
      control.transport.off('peer', onPeer)
      detachFaults()
      cm.close()
      // The run's data-plane totals and the process's CPU time, for whoever reads the node's log afterwards.
      const pool = { lent: trainPool.lent, returned: trainPool.returned, fallbacks: trainPool.fallbacks }
      opts.log?.info({ counters: { ...device.counters }, trainPool: pool, cpu: process.cpuUsage() }, 'data-plane counters at close')
      device.close()
    },
  }
}
