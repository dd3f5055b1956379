/** What every service of a node process gets: its identity, configuration, fabric, logger and directories. */
import type { Logger } from 'pino'
import type { ClusterConfig, NodeConfig, Role } from '../config/defaults.ts'
import type { ZmqTransport } from '../../fabric/zmq-transport.ts'
import type { ControlPlane } from '../../fabric/control-plane.ts'

export interface NodeContext {
  id: string
  role: Role
  nodeConfig: NodeConfig
  cluster: ClusterConfig
  transport: ZmqTransport
  control: ControlPlane
  log: Logger
  /** The run directory (logs, sockets). */
  runDir: string
  /** This node's persistent data directory (e.g. the DAX device file). */
  dataDir: string
  /** pcap file for the packets this node sends (`--pcap`), if any. */
  pcap?: string
  /** Register cleanup run on shutdown (awaited, in reverse order, before the transport closes). */
  onShutdown(fn: () => void | Promise<void>): void
  /**
   * True once the node shuts down because its launcher is gone: nobody waits
   * for a clean stop, so slow courtesies (the final sync of the device image)
   * are skipped, as after a crash. FLUSHed and fsynced data is on disk already.
   */
  readonly orphaned: boolean
}
