import t from 'tap'
import { controlFrame, dataFrame, dataHeader, FrameKind, heartbeatFrame, parseFrame } from '../fabric/frame.ts'
import { ErrorCodes } from '../src/errors.ts'

t.test('frame - round trip and malformed frames', async (t) => {
  t.same(parseFrame(controlFrame({ t: 'x', id: 1, body: { n: 5n } })), { kind: 'control', msg: { t: 'x', id: 1, body: { n: 5n } } }, 'control')
  const pkts = [Uint8Array.of(1, 2), Uint8Array.of(3)]
  const data = parseFrame(dataFrame(pkts, 0xfffffffe))
  t.equal(data.kind, 'data')
  t.same(data.kind === 'data' && data.packets.map((p) => [...p]), [[1, 2], [3]], 'data train: packets split back out')
  t.equal(data.kind === 'data' && data.echo, 0xfffffffe, 'data header carries the echo count (u32)')
  t.same(parseFrame(heartbeatFrame()), { kind: 'heartbeat' }, 'heartbeat')
  const bad: Array<[string, Uint8Array[]]> = [
    ['no parts', []],
    ['long header', [Uint8Array.of(1, 1)]],
    ['unknown kind', [Uint8Array.of(0x7f)]],
    ['control without body', [Uint8Array.of(FrameKind.CONTROL)]],
    ['control with two bodies', [...controlFrame({ t: 'x' }), Uint8Array.of(0)]],
    ['undecodable body', [Uint8Array.of(FrameKind.CONTROL), Uint8Array.of(0x92, 0x01)]],
    ['data header without echo', [Uint8Array.of(FrameKind.DATA), Uint8Array.of(0, 0, 0, 1, 7)]],
    ['empty train', [dataHeader(0)]],
    ['zero-length train body', [dataHeader(0), new Uint8Array(0)]],
    ['truncated packet length', [dataHeader(0), Uint8Array.of(0, 0)]],
    ['packet past the end', [dataHeader(0), Uint8Array.of(0, 0, 0, 9, 1, 2)]],
    ['train in two parts', [dataHeader(0), Uint8Array.of(0, 0, 0, 1, 7), Uint8Array.of(0, 0, 0, 1, 7)]],
    ['heartbeat with body', [Uint8Array.of(FrameKind.HEARTBEAT), Uint8Array.of(0)]],
  ]
  for (const [what, parts] of bad) {
    t.throws(() => parseFrame(parts), { name: 'EmuError', code: ErrorCodes.BAD_PACKET }, `${what}: BAD_PACKET`)
  }
  t.throws(() => dataFrame([]), { code: ErrorCodes.BAD_PACKET }, 'an empty train cannot be built')
})
