import { workerData } from 'node:worker_threads'
import { Piscina } from 'piscina'
import { FrameMemory } from '../memory/frame-memory.ts'
import { ServerMemoryView } from '../memory/index.ts'
import { Params } from '../params.ts'
import { F, OP_FIELDS, type DataPathResult, type DataPathTask } from './data-path-task.ts'
import { executeBatch } from './execute-batch.ts'

/**
 * The worker side of the server data path: executes one QP's batch of memory
 * operations on the shared DAX/RAM arena (copies, atomics with Atomics, DAX
 * persistence), and encodes the responses that carry memory contents into
 * one buffer handed back without copying.
 */
const view = new ServerMemoryView(workerData.memory)
const regions = new Map<number, FrameMemory>()
/**
 * Lanes (QPs) held after an ODP fault this thread could not serve: the main
 * thread finishes the faulted batch, so every later batch of the lane must
 * go back to it untouched (per-QP order), until a task says `resume`.
 */
const held = new Set<number>()

export default function run(task: DataPathTask | { ping: true }): unknown {
  // The readiness probe (WorkerDataPath.ready): the thread is up and its module loaded.
  if ('ping' in task) return 'pong'
  const lane = task.lane ?? -1
  if (task.resume) held.delete(lane)
  let res: DataPathResult
  if (held.has(lane)) {
    res = { failedAt: -1, faultAt: -1, skipped: true, out: undefined, outAt: undefined, origs: [], train: task.train }
  } else {
    for (const [serial, ref] of task.mems) {
      if (!regions.has(serial)) {
        if (regions.size >= Params.workerRegionCache) regions.clear()
        regions.set(serial, FrameMemory.fromShared(view, ref.desc))
      }
    }
    res = executeBatch(task, (serial) => regions.get(serial)!)
    if (res.failedAt >= 0) regions.delete(task.ops[res.failedAt * OP_FIELDS + F.REGION]!)
    if (res.faultAt >= 0) {
      // A major fault (filesystem work): the main thread takes over this lane.
      if (lane >= 0) held.add(lane)
      res.train = task.train
    }
  }
  const moved = [res.out, res.train].filter((b): b is ArrayBuffer => b !== undefined)
  // A movable object: piscina transfers the listed buffers and delivers `res`.
  return Piscina.move({
    get [Piscina.transferableSymbol]() {
      return moved
    },
    get [Piscina.valueSymbol]() {
      return res
    },
  } as unknown as ArrayBuffer)
}
