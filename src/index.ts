/**
 * rdma-emu, the library: `import { ... } from 'rdma-emu'`.
 *
 * Verbs shaped like pyverbs over libibverbs, each naming the call it mirrors:
 *
 * | rdma-emu | libibverbs / librdmacm |
 * |---|---|
 * | `host.ctx` ({@link Context}) | ibv_open_device |
 * | `ctx.allocPd()` → {@link PD}, `pd.dealloc()` | ibv_alloc_pd, ibv_dealloc_pd |
 * | `pd.regMr(buffer, access)` → {@link MR}, `mr.rereg()`, `mr.dereg()` | ibv_reg_mr, ibv_rereg_mr, ibv_dereg_mr |
 * | `ctx.createCq(cqe)` → {@link CQ} | ibv_create_cq |
 * | `pd.createQp(init)` → {@link QP}, `qp.modify()`, `qp.query()`, `qp.destroy()` | ibv_create_qp, ibv_modify_qp, ibv_query_qp, ibv_destroy_qp |
 * | `qp.postSend(wr)`, `qp.postRecv(wr)` | ibv_post_send, ibv_post_recv |
 * | `cq.poll(n)` | ibv_poll_cq |
 * | `await cq.next()`, `await cq.wait(n)` | ibv_req_notify_cq + ibv_get_cq_event + ibv_poll_cq |
 * | `host.cm.listen(port)` → {@link Listener}, `listener.accept()` | rdma_listen, rdma_get_cm_event + rdma_accept |
 * | `host.cm.connect(node, port)` → {@link Connection} | rdma_resolve_addr/route + rdma_connect |
 * | `conn.disconnect()`, `conn.disconnected` | rdma_disconnect, RDMA_CM_EVENT_DISCONNECTED |
 * | `ctx.getAsyncEvent()`, `ctx.pollAsyncEvents()` | ibv_get_async_event |
 * | `ctx.createCompChannel()` → {@link CompChannel}, `ctx.createCq(cqe, { channel })`, `cq.reqNotify(solicitedOnly)`, `channel.getCqEvent()`, `channel.ackCqEvents(cq, n)` | ibv_create_comp_channel, ibv_req_notify_cq, ibv_get_cq_event, ibv_ack_cq_events |
 * | `pd.createSrq(attr)` → {@link SRQ}, `srq.postRecv()`, `srq.modify({ srqLimit })`, `srq.query()`, `srq.destroy()`; `pd.createQp({ srq })` | ibv_create_srq, ibv_post_srq_recv, ibv_modify_srq, ibv_query_srq, ibv_destroy_srq |
 * | `pd.allocMr(maxPages)`, `mapMrSg(mr, buf, iova)`, `regMrWr(mr, ...)`, `localInvWr(rkey)`, `WrOpcode.SEND_WITH_INV` + `invalidateRkey` | ib_alloc_mr, ib_map_mr_sg, IB_WR_REG_MR, IBV_WR_LOCAL_INV, IBV_WR_SEND_WITH_INV |
 * | `pd.allocMw(2)` → {@link MW}, `mw.bindWr(...)`, `mw.dealloc()` | ibv_alloc_mw, IBV_WR_BIND_MW, ibv_dealloc_mw |
 *
 * A host comes from one call: a node's program gets it as its argument
 * (`export default async function (host) {...}`, see {@link ProgramHost});
 * a script gets one from {@link launchCluster} or {@link attachCluster}.
 */

// ---- verbs objects ----
export { Context, PD, MR, CQ, QP, CompChannel, bytesOf } from './api/verbs.ts'
export { SRQ, MW, mapMrSg, regMrWr, localInvWr } from './api/verbs-storage.ts'
export type { SrqAttr } from './api/verbs-storage.ts'
export { AsyncEventType, asyncEventName } from './verbs/async-events.ts'
export type { AsyncEvent, AsyncEventTypeValue } from './verbs/async-events.ts'
export type { QpInitAttr, QpAttr, QpCap, RecvWr, SendWr, Sge, Wc, RegistrableBuffer } from './api/verbs.ts'

// ---- rdma_cm ----
export { ConnectionManager, Connection, Listener } from './api/cm.ts'
export type { ConnectOptions, ListenOptions, QpChoice, ConnectRequest } from './api/cm.ts'

// ---- verbs.h constants and enums ----
export { Access, ACCESS_ALL, WcStatus, wcStatusName, WcOpcode, WrOpcode, SendFlags, QpState, qpStateName, mtuBytes, RNR_TIMER_MS } from './verbs/constants.ts'
export type { WcStatusValue, WrOpcodeValue, QpStateValue } from './verbs/constants.ts'
export { WcFlags } from './verbs/cq.ts'

// ---- errors ----
export { EmuError, ErrorCodes, ExitCode } from './errors.ts'
export type { ErrorCode } from './errors.ts'

// ---- hosts and programs ----
export { Host } from './api/host.ts'
export type { NodeInfo, Program, ProgramHost, ProgramHostBase, ClientProgramHost, ServerProgramHost } from './api/host.ts'
export type { HostMessage, RecvFilter } from './api/mailbox.ts'

// ---- server nodes: their services, and their files ----
export { ServerSession, ServerMr } from './api/server-session.ts'
export type { ServerListenOptions, MemStatsReply, FileMapping } from './api/server-session.ts'
export type { FileSystemApi, Stat, Extent, FsyncResult, LeaseGrant, LeaseBreakNotice } from './api/file-system.ts'
export { FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE } from './memory/fs.ts'

// ---- clusters: launch one, or attach to a running `rdma-emu up` ----
export { launchCluster, attachCluster, LaunchedCluster, AttachedCluster } from './api/cluster.ts'
export type { LaunchClusterOptions, ProgramsOutcome, ClusterConfig, ClusterNode, ClusterFileNode } from './api/cluster.ts'
export { loadConfig, parseConfig } from './config/load-config.ts'
