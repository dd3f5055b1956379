import { encodePacketInto, type PacketInit } from '../../fabric/codec.ts'
import { readRegion } from '../engine/data-path.ts'
import { opInfo } from '../engine/opcodes.ts'
import type { FrameMemory } from '../memory/frame-memory.ts'
import { enterMr, leaveMr } from '../memory/stag.ts'
import { OdpStatus } from '../memory/odp.ts'
import { F, OP_FIELDS, OpKind, type DataPathResult, type DataPathTask, type OpExtra } from './data-path-task.ts'

/**
 * Execute one batch of a QP's memory operations in order: copies, atomics
 * (with Atomics, so they stay atomic against other threads), DAX
 * persistence, and the encoding of responses that carry memory contents.
 * Runs in a data-path worker, or on the main thread for a small batch
 * (then `payloads` holds the WRITE payloads in order, unstaged).
 *
 * ODP regions: each op first faults its pages in and holds off invalidation
 * while it copies (FrameMemory.mapAndLock). A fault only the main thread can
 * serve stops the batch at that op (`faultAt`): the main thread finishes it
 * from there with `startAt`. A page that cannot be mapped (past EOF) fails
 * the op like a dead region (`failedAt`: remote access error).
 */
export function executeBatch(task: DataPathTask, region: (serial: number) => FrameMemory, payloads?: Uint8Array[], startAt = 0): DataPathResult {
  let nextPayload = 0
  const live = new Map(task.mems.map(([serial, ref]) => [serial, ref.live]))
  const ops = task.ops
  const n = ops.length / OP_FIELDS
  const stage = task.train ? new Uint8Array(task.train) : task.stage ? new Uint8Array(task.stage) : undefined
  const res: DataPathResult = { failedAt: -1, faultAt: -1, out: undefined, outAt: undefined, origs: [] }
  if (payloads) for (let i = 0; i < startAt; i++) if (ops[i * OP_FIELDS + F.KIND] === OpKind.WRITE) nextPayload++

  // Responses are encoded as their op runs (a later WRITE in the batch must not
  // change what an earlier READ returns), into one buffer sized up front.
  let outBytes = 0
  for (let i = startAt; i < n; i++) {
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

  for (let i = startAt; i < n; i++) {
    const row = i * OP_FIELDS
    const serial = ops[row + F.REGION]!
    // The region may have been deregistered after the main thread checked it;
    // while the op holds it, a deregistration waits before releasing the memory.
    const mrLive = live.get(serial)!
    if (!enterMr(mrLive)) {
      res.failedAt = i
      break
    }
    try {
      const mem = region(serial)
      const off = ops[row + F.OFF]!
      const len = ops[row + F.LEN]!
      const st = mem.mapAndLock(off, len)
      if (st !== OdpStatus.OK) {
        if (st === OdpStatus.NEED_MAIN) res.faultAt = i
        else res.failedAt = i
        break
      }
      try {
        runOp(i, row, mem, off, len, task.extras[i])
      } finally {
        mem.unlock(off, len)
      }
    } finally {
      leaveMr(mrLive)
    }
  }
  res.out = out?.buffer
  res.outAt = outAt
  return res

  function runOp(i: number, row: number, mem: FrameMemory, off: number, len: number, x: OpExtra | undefined): void {
    switch (ops[row + F.KIND]) {
      case OpKind.WRITE: {
        // On the main thread the payloads are used where they are; in a worker they come staged.
        const at = ops[row + F.STAGE]!
        mem.copyIn(off, payloads ? payloads[nextPayload++]! : stage!.subarray(at, at + len))
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
}
