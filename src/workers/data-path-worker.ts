import { workerData } from 'node:worker_threads'
import { Piscina } from 'piscina'
import { encodePacket } from '../../fabric/codec.ts'
import { readRegion } from '../engine/data-path.ts'
import { FrameMemory } from '../memory/frame-memory.ts'
import { ServerMemoryView } from '../memory/index.ts'
import { OpKind, type DataPathResult, type DataPathTask } from './data-path-task.ts'

/**
 * The worker side of the server data path: executes one QP's batch of memory
 * operations on the shared DAX/RAM arena (copies, atomics with Atomics, DAX
 * persistence), encodes the responses that carry memory contents, and hands
 * the encoded packets back without copying them.
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
  const live = new Map(task.mems.map(([serial, ref]) => [serial, ref.live]))
  const res: DataPathResult = { failedAt: -1, out: [], origs: [] }
  const transfer: ArrayBuffer[] = []
  for (let i = 0; i < task.ops.length; i++) {
    const op = task.ops[i]!
    // The region may have been deregistered after the main thread checked it.
    if (Atomics.load(live.get(op.m)!, 0) !== 1) {
      regions.delete(op.m)
      res.failedAt = i
      break
    }
    const mem = regions.get(op.m)!
    switch (op.k) {
      case OpKind.WRITE:
        mem.copyIn(op.off, op.data!)
        break
      case OpKind.READ_RESPOND: {
        const p = op.p!
        p.payload = readRegion(mem, op.off, op.len)
        const pkt = encodePacket(p)
        res.out[i] = pkt
        transfer.push(pkt.buffer as ArrayBuffer)
        break
      }
      case OpKind.ATOMIC: {
        const orig = op.cas ? mem.compareSwap(op.off, op.b!, op.a!) : mem.fetchAdd(op.off, op.a!)
        res.origs[i] = orig
        const p = op.p!
        p.atomicAckEth = { origData: orig }
        const pkt = encodePacket(p)
        res.out[i] = pkt
        transfer.push(pkt.buffer as ArrayBuffer)
        break
      }
      case OpKind.ATOMIC_WRITE:
        mem.atomicWrite(op.off, op.a!)
        break
      case OpKind.FLUSH:
        mem.flush(op.off, op.len)
        break
    }
  }
  // A movable object: piscina transfers the listed buffers and delivers `res`.
  return Piscina.move({
    get [Piscina.transferableSymbol]() {
      return transfer
    },
    get [Piscina.valueSymbol]() {
      return res
    },
  } as unknown as ArrayBuffer)
}
