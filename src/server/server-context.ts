/**
 * What the server host's domain needs of the node it runs in: narrow views of
 * the node context, the control plane and the RDMA stack. src/server depends
 * on no host implementation; src/host/services.ts passes its NodeContext and
 * RdmaService, which fit these shapes.
 */
import type { Logger } from 'pino'
import type { ControlPlane } from '../../fabric/control-plane.ts'
import type { NodeConfig } from '../config/defaults.ts'
import type { RdmaDevice } from '../verbs/device.ts'
import type { MrBackend } from '../verbs/remote-verbs-service.ts'

/** The control-plane operations the server uses: the node's wire, typed by its message table. */
export type ServerControl = Pick<ControlPlane, 'handle' | 'request' | 'notify' | 'transport' | 'auth'>

/** The node the server runs in. */
export interface ServerNodeContext {
  readonly id: string
  readonly nodeConfig: NodeConfig
  /** This node's persistent data directory (the DAX device image). */
  readonly dataDir: string
  readonly control: ServerControl
  readonly log: Logger
  /** True once the node shuts down because its launcher is gone (a crash, not a clean stop). */
  readonly orphaned: boolean
}

/** The node's RDMA stack: the device, and the verbs service that takes the server's MR backend. */
export interface ServerRdma {
  readonly device: RdmaDevice
  readonly verbs: { setMrBackend(backend: MrBackend): void }
}

/** What only the host process can do for the server. */
export interface ServerHostHooks {
  /** Ask node `node` to shut down (leaseRevokeKill); settles once it has answered. */
  shutdownNode(node: string): Promise<unknown>
}
