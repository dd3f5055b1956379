/**
 * All limits and tunables in one place (the rxe_param.h model). Config values
 * override the defaults named here; nothing else in the tree hard-codes them.
 */
/**
 * Which device the RC engine behaves as where rxe and the IBTA (hardware)
 * differ: `ibta` (the default: retry_cnt 7 is seven retries; SQ_DRAINED only
 * when en_sqd_async_notify asked for it) or `rxe` (soft-RoCE's quirks:
 * retry_cnt 7 retries forever; SQ_DRAINED always).
 */
export type DeviceModel = 'ibta' | 'rxe'
export const DEVICE_MODELS: readonly DeviceModel[] = ['ibta', 'rxe']

export const Params = {
  // --- processes and fabric ---
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
  /**
   * V8 flags of every node process the launcher starts. A node streams its
   * fabric input through ZeroMQ's external receive buffers (hundreds of MB/s)
   * over a heap of 10-30 MB: with V8's default old-space limit for so small a
   * heap, that external churn set off a full mark-compact every 10-20 MB
   * received (40-50 per 655 MB, a third of the server's CPU in a 64 KiB
   * write_bw). A larger initial old-space limit leaves those to the scavenger.
   */
  nodeV8Flags: ['--initial-old-space-size=256'] as readonly string[],
  /** Prometheus metrics (`metrics` in the configuration, `--metrics-port`): the port a `metrics` block without one serves on. */
  metricsPort: 9477,
  /** Prometheus metrics: how long one scrape waits for a node's counters (ms); a node silent that long is reported `rdma_emu_up 0`. */
  metricsScrapeTimeoutMs: 2000,
  /** ZeroMQ linger on close (ms): short, so processes exit promptly. */
  zmqLingerMs: 0,
  /** ZeroMQ send/receive high-water marks (messages). */
  zmqHighWaterMark: 100000,
  /** Control-plane request timeout (ms). */
  controlTimeoutMs: 5000,
  /** ZeroMQ routing ids of this many senders are cached; others are decoded per message. */
  zmqKnownSenders: 64,
  /** Pooled train buffers: bytes per chunk (a full train of 64 MTU-4096 packets with their headers). */
  trainChunkBytes: 272 * 1024,
  /** Chunks per pooled slab, and most slabs per process (64 chunks, 17 MiB). */
  trainChunksPerSlab: 16,
  trainMaxSlabs: 4,
  /** Trains below this size come from Node's own small-buffer pool, which is cheap already. */
  trainMinPooledBytes: 2048,
  /** Capture bytes buffered before a write to the pcap file. */
  pcapBufferBytes: 1 << 20,

  // --- RC transport (IBTA / rxe) ---
  /** Path MTUs allowed (IBTA enum 1..5). */
  mtus: [256, 512, 1024, 2048, 4096] as const,
  defaultMtu: 4096,
  /** PSNs are 24-bit. */
  psnMask: 0xffffff,
  /** AckReq at least every this many packets. */
  ackReqInterval: 64,
  /**
   * Go-back-N window: most PSNs one QP sends ahead of the oldest
   * unacknowledged one (rxe's RXE_MAX_UNACKED_PSNS; the requester waits while
   * next PSN > oldest + this, as rxe_requester's psn_compare does).
   */
  packetWindow: 128,
  /** Most packets one requester run produces before yielding to the event loop. */
  packetsPerRun: 64,
  /** Local ACK timeout base: 4.096 us * 2^timeout. */
  ackTimeoutBaseUs: 4.096,
  /** Default ibv_qp_attr.timeout (IBTA 5 bit). */
  defaultTimeout: 14,
  /**
   * retry_cnt / rnr_retry are 3 bits. rnr_retry 7 means infinite (IBTA);
   * retry_cnt 7 means seven retries, except on the `rxe` device model, which
   * keeps rxe_completer's quirk of treating it as infinite too.
   */
  defaultRetryCnt: 7,
  defaultRnrRetry: 7,
  infiniteRetry: 7,
  /** Default ibv_qp_attr.min_rnr_timer: IBTA 5-bit code 12 = 0.64 ms. */
  defaultMinRnrTimer: 12,
  /** Default max_dest_rd_atomic / max_rd_atomic (rxe allows 128). */
  defaultMaxRdAtomic: 128,
  /** Largest max_rd_atomic a QP accepts (rxe's RXE_MAX_QP_RD_ATOM, its max_qp_rd_atom); larger is EINVAL. */
  maxQpRdAtomic: 128,
  /** The device's only port (rdma_is_port_valid: port_num 1). */
  portNum: 1,
  /** Largest message (2^31 as IBTA). */
  maxMessageSize: 0x80000000,

  // --- verbs objects ---
  /** Default queue depths. */
  defaultMaxSendWr: 1024,
  defaultMaxRecvWr: 1024,
  defaultCqDepth: 4096,
  defaultMaxSge: 16,
  /** Largest max_send_wr / max_recv_wr / max_send_sge / max_recv_sge a QP accepts. */
  maxQpCap: 1 << 20,
  /** First QP number a device hands out (rxe's QP pool starts above the special QPs 0 and 1). */
  firstQpn: 0x11,
  /** How long Cq.next / Cq.take wait for completions by default (ms). */
  cqWaitTimeoutMs: 10_000,
  /** A workload gives up when no completion came for this long (ms), and a remote one when it has not finished in this long. */
  workloadCompletionTimeoutMs: 30_000,
  workloadTimeoutMs: 120_000,
  /** The public CM's connect retries a refused connection (no listener yet) for this long (ms), every cmRetryIntervalMs. */
  cmConnectRetryMs: 5000,
  cmRetryIntervalMs: 50,
  /** A disconnect request (the CM's DREQ) that gets no answer is sent again this often (ms) ... */
  cmDreqTimeoutMs: 1000,
  /** ... this many times in all (IB CM's max_cm_retries is 15), then the peer's QP is left to it. */
  cmDreqTries: 15,

  // --- programs run as hosts (src/host/program-runner.ts) ---
  /** How long a node waits for the launcher to take note of its program's end (ms). */
  programExitReportMs: 5000,

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
  /** A holder complying with a lease break gives it back this long before the deadline (ms). */
  leaseGiveBackMarginMs: 50,
  /** How often a complying holder looks at its send queues while it waits for outstanding WRs (ms). */
  leaseDrainPollMs: 2,
  /** How long an ODP invalidation waits for accesses inside the MR before it gives up (a dead worker) (ms). */
  odpInvalidateWaitMs: 10_000,
  /** How long a deregistration waits for copies in flight before it goes on anyway (a worker that died) (ms). */
  mrDeregWaitMs: 1000,
  /** An ODP invalidation waiting for accesses re-checks at least this often (ms). */
  odpInvalidatePollMs: 20,
  /** DAX device image: bytes read per call when a server loads its device file. */
  daxLoadChunkBytes: 1 << 24,
  /** MRs without an IOVA get one aligned to this, with a guard of the same size after each region (bytes). */
  mrIovaAlignBytes: 4096,
  /** Corruption oracle: most write records kept in its history. */
  oracleHistoryLimit: 100_000,

  // --- server data path (src/workers) ---
  /** Batches one worker may hold at once (tasks it runs one after another, in order). */
  workerInflightBatches: 64,
  /** Staging ring for WRITE payloads, per QP (bytes). */
  workerStageBytes: 8 << 20,
  /** Regions a worker keeps mapped (its cache is dropped when full). */
  workerRegionCache: 4096,
  /** Adaptive offload: event-loop utilisation above which the main thread hands batches to the workers, and below which it takes them back. */
  offloadBusyElu: 0.85,
  offloadIdleElu: 0.6,
  /** How often adaptive offload samples the event-loop utilisation (ms). */
  offloadSampleMs: 50,

  // --- bench --baseline (raw ZeroMQ) ---
  /** A baseline stream's socket closes by itself after this long unused (ms). */
  baselineIdleCloseMs: 10 * 60_000,
} as const
