/**
 * All limits and tunables in one place (the rxe_param.h model). Config values
 * override the defaults named here; nothing else in the tree hard-codes them.
 */
export const Params = {
  /** Fabric heartbeat: how often a node tells each peer it is alive (ms). */
  heartbeatIntervalMs: 250,
  /** A peer with no frame for this long is marked down (ms). */
  heartbeatTimeoutMs: 2000,
  /** How long the launcher waits for every node to report ready (ms). */
  readyTimeoutMs: 15000,
  /** How often a node checks that its launcher is still alive (ms). */
  parentCheckIntervalMs: 500,
  /** A node whose launcher is gone exits after this long even if its shutdown has not finished (ms). */
  orphanExitMs: 2500,
  /** ZeroMQ linger on close (ms): short, so processes exit promptly. */
  zmqLingerMs: 0,
  /** ZeroMQ send/receive high-water marks (messages). */
  zmqHighWaterMark: 100000,
  /** Control-plane request timeout (ms). */
  controlTimeoutMs: 5000,

  // --- RC transport (IBTA / rxe) ---
  /** Path MTUs allowed (IBTA enum 1..5). */
  mtus: [256, 512, 1024, 2048, 4096] as const,
  defaultMtu: 4096,
  /** PSNs are 24-bit. */
  psnMask: 0xffffff,
  /** AckReq at least every this many packets. */
  ackReqInterval: 64,
  /** Local ACK timeout base: 4.096 us * 2^timeout. */
  ackTimeoutBaseUs: 4.096,
  /** Default ibv_qp_attr.timeout (IBTA 5 bit). */
  defaultTimeout: 14,
  /** retry_cnt / rnr_retry are 3 bits; 7 means infinite. */
  defaultRetryCnt: 7,
  defaultRnrRetry: 7,
  infiniteRetry: 7,
  /** Default max_dest_rd_atomic / max_rd_atomic (rxe allows 128). */
  defaultMaxRdAtomic: 128,
  /** Default queue depths. */
  defaultMaxSendWr: 1024,
  defaultMaxRecvWr: 1024,
  defaultCqDepth: 4096,
  defaultMaxSge: 16,
  /** Largest message (2^31 as IBTA). */
  maxMessageSize: 0x80000000,

  // --- server memory model ---
  defaultDeviceBytes: 64 * 1024 * 1024,
  defaultPageSize: 4096,
  /** Linux GUP_PIN_COUNTING_BIAS: each FOLL_PIN adds this to the refcount. */
  gupPinCountingBias: 1024,
  /** Linux dirty_expire_centisecs default (30 s). */
  defaultDirtyExpireMs: 30000,
  /** Linux dirty_writeback_centisecs default (5 s): periodic writeback interval. */
  defaultWritebackIntervalMs: 5000,
  /** Server RAM (anonymous memory + page cache) in bytes. */
  defaultRamBytes: 16 * 1024 * 1024,
  /** Linux lease-break-time default (45 s). */
  defaultLeaseBreakTimeMs: 45000,
} as const
