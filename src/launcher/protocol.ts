/**
 * The launcher <-> node start-up protocol (control-plane messages).
 *
 * 1. The launcher binds its own endpoint and spawns each node with
 *    `--launcher <endpoint>`.
 * 2. A node binds its endpoint (port 0 resolved), connects to the launcher
 *    and requests `hello` with its real endpoint. The launcher answers every
 *    hello once all nodes have said hello, with the full peer list.
 * 3. The node connects to every other node (full mesh: each node opens one
 *    connection to each peer, so every node sends over its own connection),
 *    pings each one over the fabric, then requests `ready`.
 * 4. Later the launcher sends `shutdown` (notify) to stop a node.
 * 5. Whenever a node process exits (killed, crashed, stopped), the launcher
 *    tells every other running node `peer.gone { id }` (notify): the
 *    authoritative death signal; the heartbeat timeout is the fallback.
 * 6. A node the launcher restarts (Cluster.restartNode) says hello and ready
 *    again; both are answered at once, with the peers running then.
 */

/** The launcher's fabric id; '@' cannot start a node id, so it never clashes. */
export const LAUNCHER_ID = '@launcher'

export const Msg = {
  HELLO: 'hello',
  READY: 'ready',
  SHUTDOWN: 'shutdown',
  PEER_GONE: 'peer.gone',
  PING: 'ping',
  PING_PEER: 'ping-peer',
  STATS: 'stats',
} as const

export type { HelloBody, HelloReply, PeerEndpoint, PingPeerBody, ReadyBody } from '../../fabric/node-message-types.ts'
