import { EmuError, ErrorCodes } from '../errors.ts'
import { InlineDataPath } from '../engine/data-path.ts'
import type { ServerMemory } from '../memory/index.ts'
import type { DataPathStatsReply } from '../../fabric/node-message-types.ts'
import { WorkerDataPath } from '../workers/worker-data-path.ts'
import type { RdmaService } from './rdma-service.ts'
import type { NodeContext } from './node-context.ts'

/**
 * A server's responder data path: worker threads over the shared arena when
 * the config asks for workers (the default), inline on the main thread with
 * `workers: 0`. With workers, small batches on idle QPs still run in place
 * (`inlineBatchBytes`), and with `offload: "adaptive"` (the default) so does
 * any batch while the main thread has headroom: the workers take the load
 * when it is busy. Modes: inline, workers (always offload), adaptive. `rdma.dataPath {mode}` switches at run time (benchmarks
 * compare both in one run); `rdma.dataPathStats` reports it.
 */
export type DataPathMode = 'inline' | 'workers' | 'adaptive'

export interface DataPathService {
  /** What `rdma.dataPathStats` answers. */
  stats(): DataPathStatsReply
  close(): Promise<void>
}

export function attachDataPath(ctx: NodeContext, rdma: RdmaService, memory: ServerMemory, workers: number, inlineBatchBytes: number, offload: 'always' | 'adaptive' = 'adaptive'): DataPathService {
  const device = rdma.device
  const emit = (qp: { attr: { destNode: string } }, pkt: Uint8Array): void => device.emit(qp.attr.destNode, pkt)
  const inline = new InlineDataPath(emit)
  let pool: WorkerDataPath | undefined
  let inlineBelow = inlineBatchBytes
  let mode: DataPathMode = workers > 0 ? (offload === 'adaptive' ? 'adaptive' : 'workers') : 'inline'
  const use = (next: DataPathMode, n = workers, below = inlineBelow): void => {
    if (device.dataPath.depth > 0) throw new EmuError(ErrorCodes.EBUSY, 'the data path is busy; switch when idle')
    if (next !== 'inline') {
      if (n < 1) throw new EmuError(ErrorCodes.EINVAL, `workers must be at least 1, got ${n}`)
      // Worker threads take a while to boot: keep the pool unless its size changes.
      if (!pool || pool.threads !== n) {
        void pool?.close()
        pool = new WorkerDataPath(memory.shared(), {
          workers: n, emit, onFault: (qp, why) => ctx.log.warn({ qpn: qp.qpNum, why }, 'data path fault'),
        })
      }
      pool.configure({ inlineBelowBytes: below, offload: next === 'adaptive' ? 'adaptive' : 'always' })
      inlineBelow = below
      device.dataPath = pool
    } else {
      device.dataPath = inline
    }
    mode = next
  }
  use(mode)
  ctx.control.handle('rdma.dataPath', async (b) => {
    use(b.mode, b.workers ?? (workers || 2), b.inlineBatchBytes ?? inlineBelow)
    if (mode !== 'inline') await pool!.ready()
    return { mode, workers: mode === 'inline' ? 0 : pool!.threads, inlineBatchBytes: inlineBelow }
  })
  const stats = (): DataPathStatsReply => ({
    mode,
    workers: mode === 'inline' ? 0 : pool!.threads,
    inlineBatchBytes: inlineBelow,
    queueDepth: device.dataPath.depth,
    ...(pool?.counters ?? {}),
  })
  ctx.control.handle('rdma.dataPathStats', stats)
  return {
    stats,
    async close() {
      device.dataPath = inline
      await pool?.close()
    },
  }
}
