import { EmuError, ErrorCodes } from '../errors.ts'
import { InlineDataPath } from '../engine/data-path.ts'
import type { ServerMemory } from '../memory/index.ts'
import { WorkerDataPath } from '../workers/worker-data-path.ts'
import type { RdmaService } from './rdma-service.ts'
import type { NodeContext } from './services.ts'

/**
 * A server's responder data path: worker threads over the shared arena when
 * the config asks for workers (the default), inline on the main thread with
 * `workers: 0`. With workers, small batches on idle QPs still run in place
 * (`inlineBatchBytes`). `rdma.dataPath {mode}` switches at run time (benchmarks
 * compare both in one run); `rdma.dataPathStats` reports it.
 */
export function attachDataPath(ctx: NodeContext, rdma: RdmaService, memory: ServerMemory, workers: number, inlineBatchBytes: number): { close(): Promise<void> } {
  const device = rdma.device
  const emit = (qp: { attr: { destNode: string } }, pkt: Uint8Array): void => device.emit(qp.attr.destNode, pkt)
  const inline = new InlineDataPath(emit)
  let pool: WorkerDataPath | undefined
  let inlineBelow = inlineBatchBytes
  const use = (mode: 'inline' | 'workers', n = workers, below = inlineBelow): void => {
    if (device.dataPath.depth > 0) throw new EmuError(ErrorCodes.EBUSY, 'the data path is busy; switch when idle')
    if (mode === 'workers') {
      if (n < 1) throw new EmuError(ErrorCodes.EINVAL, `workers must be at least 1, got ${n}`)
      if (!pool || pool.threads !== n || below !== inlineBelow) {
        void pool?.close()
        inlineBelow = below
        pool = new WorkerDataPath(memory.shared(), { workers: n, inlineBelowBytes: below, emit, onFault: (qp, why) => ctx.log.warn({ qpn: qp.qpNum, why }, 'data path fault') })
      }
      device.dataPath = pool
    } else {
      device.dataPath = inline
    }
  }
  use(workers > 0 ? 'workers' : 'inline')
  ctx.control.handle('rdma.dataPath', (b: { mode: 'inline' | 'workers'; workers?: number; inlineBatchBytes?: number }) => {
    if (b?.mode !== 'inline' && b?.mode !== 'workers') throw new EmuError(ErrorCodes.EINVAL, `mode must be "inline" or "workers", got ${JSON.stringify(b?.mode)}`)
    if (b.inlineBatchBytes !== undefined && !(Number.isInteger(b.inlineBatchBytes) && b.inlineBatchBytes >= 0)) {
      throw new EmuError(ErrorCodes.EINVAL, `inlineBatchBytes must be a non-negative integer, got ${b.inlineBatchBytes}`)
    }
    use(b.mode, b.workers ?? (workers || 2), b.inlineBatchBytes ?? inlineBelow)
    return { mode: b.mode, workers: b.mode === 'workers' ? pool!.threads : 0, inlineBatchBytes: inlineBelow }
  })
  ctx.control.handle('rdma.dataPathStats', () => ({
    mode: device.dataPath === inline ? 'inline' : 'workers',
    workers: device.dataPath === inline ? 0 : pool!.threads,
    inlineBatchBytes: inlineBelow,
    queueDepth: device.dataPath.depth,
    ...(pool?.counters ?? {}),
  }))
  return {
    async close() {
      device.dataPath = inline
      await pool?.close()
    },
  }
}
