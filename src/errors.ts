/**
 * One errors module (the undici model): every error the project throws for
 * API misuse or bad input carries a stable `code`; tests assert codes, never
 * messages. Data-path faults are not exceptions: they are WC statuses and NAK
 * syndromes (see src/engine).
 */
export const ErrorCodes = {
  /** Bad configuration file (schema, duplicates, unreadable). Exit code 2. */
  CONFIG_INVALID: 'ERR_CONFIG_INVALID',
  /** A config problem (within CONFIG_INVALID, on its line): a node binds a hostname or an interface name, not an IP address or a wildcard. */
  CONFIG_BIND_HOSTNAME: 'ERR_CONFIG_BIND_HOSTNAME',
  /** A config problem (within CONFIG_INVALID): two nodes advertise one endpoint (host:port). */
  CONFIG_ENDPOINT_DUPLICATE: 'ERR_CONFIG_ENDPOINT_DUPLICATE',
  /** A config problem (within CONFIG_INVALID): a wildcard bind without an address to advertise (or a wildcard advertised). */
  CONFIG_WILDCARD_NO_ADVERTISE: 'ERR_CONFIG_WILDCARD_NO_ADVERTISE',
  /** A config problem (within CONFIG_INVALID): an advertised address that is neither an IP address nor a hostname. */
  CONFIG_ADVERTISE_INVALID: 'ERR_CONFIG_ADVERTISE_INVALID',
  /** A node started alone could not reach every peer before its ready timeout (the missing ones are named). Exit code 1. */
  PEERS_UNREACHABLE: 'ERR_PEERS_UNREACHABLE',
  /** A scenario on an attached cluster has a node fault that needs the node's local process (kill, pause, resume, restart, stopNode). Exit code 2. */
  ATTACH_NODE_FAULT: 'ERR_ATTACH_NODE_FAULT',
  /** Bad command-line argument. Exit code 2. */
  BAD_ARGUMENT: 'ERR_BAD_ARGUMENT',
  /** Bad scenario file. Exit code 2. */
  SCENARIO_INVALID: 'ERR_SCENARIO_INVALID',
  /** Verbs call in a state that forbids it (ibv_post_send on a RESET QP ...): EINVAL. */
  EINVAL: 'ERR_EINVAL',
  /** Resource exhausted (queue full, no free index): ENOMEM. */
  ENOMEM: 'ERR_ENOMEM',
  /** Operation not supported by this object or policy: EOPNOTSUPP. */
  EOPNOTSUPP: 'ERR_EOPNOTSUPP',
  /** Bad address / not permitted to pin: EFAULT. */
  EFAULT: 'ERR_EFAULT',
  /** Object busy (pinned range under truncate with the deny policy): ETXTBSY. */
  ETXTBSY: 'ERR_ETXTBSY',
  /** Interrupted while waiting (a DAX truncate waiting for busy pages, given up by a timeout or a cancel): EINTR. */
  EINTR: 'ERR_EINTR',
  /** Object busy (cannot destroy while in use; lease released while MRs hold pins): EBUSY. */
  EBUSY: 'ERR_EBUSY',
  /** Try again: a conflicting layout lease is held, or the lease is being broken (F_SETLEASE's EAGAIN). */
  EAGAIN: 'ERR_EAGAIN',
  /** No such file or object: ENOENT. */
  ENOENT: 'ERR_ENOENT',
  /** File exists: EEXIST. */
  EEXIST: 'ERR_EEXIST',
  /** No space left on the DAX device: ENOSPC. */
  ENOSPC: 'ERR_ENOSPC',
  /** I/O error from the storage device (an injected fsync fault): EIO. */
  EIO: 'ERR_EIO',
  /** Permission denied (missing lease, access flag): EACCES. */
  EACCES: 'ERR_EACCES',
  /**
   * A control request its sender may not make: memory access to an MR another
   * host owns, or fault control, shutdown and policy changes from a peer that
   * is neither the launcher nor an admin key (fabric/control-auth.ts). Counted.
   */
  NOT_AUTHORISED: 'ERR_NOT_AUTHORISED',
  /** Malformed packet or frame (codec). Never thrown past the fabric: counted and dropped. */
  BAD_PACKET: 'ERR_BAD_PACKET',
  /** A control message whose body does not match the message table (the field is named): never reaches a handler. */
  BAD_MESSAGE: 'ERR_BAD_MESSAGE',
  /** No listener on the port the connection request named (rdma_cm: REJECTED, ECONNREFUSED). */
  ECONNREFUSED: 'ERR_ECONNREFUSED',
  /** A peer did not answer in time (control plane). */
  TIMEOUT: 'ERR_TIMEOUT',
  /** A node failed to start or died. */
  NODE_FAILED: 'ERR_NODE_FAILED',
  /** The transport is closed or the peer is unknown. */
  TRANSPORT: 'ERR_TRANSPORT',
  /** A control-plane handler failed with something other than an EmuError. */
  INTERNAL: 'ERR_INTERNAL',
} as const

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes]

/** The one error class. `code` is stable; `details` carries machine-readable context. */
export class EmuError extends Error {
  readonly code: ErrorCode
  readonly details?: unknown
  constructor(code: ErrorCode, message: string, details?: unknown) {
    super(message)
    this.name = 'EmuError'
    this.code = code
    this.details = details
  }
}

/** Process exit codes of every CLI command (design brief section 5). */
export const ExitCode = { OK: 0, PROBLEM: 1, BAD_INPUT: 2 } as const

/** Exit code for an error thrown out of a command. */
export function exitCodeFor(err: unknown): number {
  if (err instanceof EmuError) {
    if (err.code === ErrorCodes.CONFIG_INVALID || err.code === ErrorCodes.BAD_ARGUMENT || err.code === ErrorCodes.SCENARIO_INVALID || err.code === ErrorCodes.ATTACH_NODE_FAULT) {
      return ExitCode.BAD_INPUT
    }
  }
  return ExitCode.PROBLEM
}
