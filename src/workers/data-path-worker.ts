import { workerData } from 'node:worker_threads'
import { Piscina } from 'piscina'
import { encodePacketInto, type PacketInit } from '../../fabric/codec.ts'
import { opInfo } from '../engine/opcodes.ts'
import { readRegion } from '../engine/data-path.ts'
import { FrameMemory } from '../memory/frame-memory.ts'
import { ServerMemoryView } from '../memory/index.ts'
import { F, OP_FIELDS, OpKind, type DataPathResult, type DataPathTask } from './data-path-task.ts'

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
  const live = new Map(task.mems.map(([serial, ref]) => [serial, ref.live]))
  const ops = task.ops
  const n = ops.length / OP_FIELDS
  const stage = task.train ? new Uint8Array(task.train) : task.stage ? new Uint8Array(task.stage) : undefined
  const res: DataPathResult = { failedAt: -1, out: undefined, outAt: undefined, origs: [] }

  // Responses are encoded as their op runs (a later WRITE in the batch must not
  // change what an earlier READ returns), into one buffer sized up front.
  let outBytes = 0
  for (let i = 0; i < n; i++) {
    const p = task.extras[i]?.p
    if (!p) continue
    const len = ops[i * OP_FIELDS + F.KIND] === OpKind.READ_RESPOND ? ops[i * OP_FIELDS + F.LEN]! : 0
    outBytes += opInfo(p.opcode)!.length + len + ((-len) & 3)
  }
  const out = outBytes > 0 ? new Uint8Array(outBytes) : undefined
  const outAt = out ? new Int32Array(2 * n) : undefined
  let pos = 0
  const respond = (i: number, p: PacketInit): void => {
    const len = encodePacketInto(p, out!, pos)
    outAt![2 * i] = pos
    outAt![2 * i + 1] = len
    pos += len
  }

  for (let i = 0; i < n; i++) {
    const row = i * OP_FIELDS
    const serial = ops[row + F.REGION]!
    // The region may have been deregistered after the main thread checked it.
    if (Atomics.load(live.get(serial)!, 0) !== 1) {
      regions.delete(serial)
      res.failedAt = i
      break
    }
    const mem = regions.get(serial)!
    const off = ops[row + F.OFF]!
    const len = ops[row + F.LEN]!
    const x = task.extras[i]
    switch (ops[row + F.KIND]) {
      case OpKind.WRITE: {
        const at = ops[row + F.STAGE]!
        mem.copyIn(off, stage!.subarray(at, at + len))
        break
      }
      case OpKind.READ_RESPOND:
        x!.p!.payload = readRegion(mem, off, len)
        respond(i, x!.p!)
        break
      case OpKind.ATOMIC: {
        const orig = x!.cas ? mem.compareSwap(off, x!.b!, x!.a!) : mem.fetchAdd(off, x!.a!)
        res.origs[i] = orig
        x!.p!.atomicAckEth = { origData: orig }
        respond(i, x!.p!)
        break
      }
      case OpKind.ATOMIC_WRITE:
        mem.atomicWrite(off, x!.a!)
        break
      case OpKind.FLUSH:
        mem.flush(off, len)
        break
    }
  }
  res.out = out?.buffer
  res.outAt = outAt
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
