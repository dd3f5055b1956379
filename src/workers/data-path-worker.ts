import { workerData } from 'node:worker_threads'
import { Piscina } from 'piscina'
import { FrameMemory } from '../memory/frame-memory.ts'
import { ServerMemoryView } from '../memory/index.ts'
import { F, OP_FIELDS, type DataPathTask } from './data-path-task.ts'
import { executeBatch } from './execute-batch.ts'

/**
 * The worker side of the server data path: executes one QP's batch of memory
 * operations on the shared DAX/RAM arena (copies, atomics with Atomics, DAX
 * persistence), and encodes the responses that carry memory contents into
 * one buffer handed back without copying.
 */
const view = new ServerMemoryView(workerData.memory)
const regions = new Map<number, FrameMemory>()
const MAX_CACHED = 4096

export default function run(task: DataPathTask): unknown {
  for (const [serial, ref] of task.mems) {
    if (!regions.has(serial)) {
      if (regions.size >= MAX_CACHED) regions.clear()
      regions.set(serial, FrameMemory.fromShared(view, ref.desc))
    }
  }
  const res = executeBatch(task, (serial) => regions.get(serial)!)
  if (res.failedAt >= 0) regions.delete(task.ops[res.failedAt * OP_FIELDS + F.REGION]!)
  // A movable object: piscina transfers the listed buffers and delivers `res`.
  return Piscina.move({
    get [Piscina.transferableSymbol]() {
      return res.out ? [res.out] : []
    },
    get [Piscina.valueSymbol]() {
      return res
    },
  } as unknown as ArrayBuffer)
}
