import t from 'tap'
import { fabricIcrc, icrcOf } from '../fabric/icrc.ts'
import { seededRandom } from '../fabric/faults.ts'

// The fabric's ICRC (carried by DATA_ICRC frames on links that corrupt) is
// the RoCEv2 ICRC under a fixed IPv4 + UDP header; the zlib fast path and the
// table loop agree, and every single-bit flip outside BTH byte 4 changes it.
function header(ibaLength: number): Uint8Array {
  const h = new Uint8Array(28)
  const ipLen = 28 + ibaLength + 4
  h.set([0x45, 0, ipLen >>> 8, ipLen & 0xff, 0, 0, 0x40, 0, 64, 17])
  h[22] = 4791 >>> 8
  h[23] = 4791 & 0xff
  h[24] = (ipLen - 20) >>> 8
  h[25] = (ipLen - 20) & 0xff
  return h
}

t.test('icrc - the fabric ICRC is the RoCEv2 ICRC under a fixed header; a bit flip changes it', async (t) => {
  const rand = seededRandom(99)
  for (const len of [12, 13, 28, 100, 1024 + 28, 4096 + 12]) {
    const p = Uint8Array.from({ length: len }, () => Math.floor(rand() * 256))
    t.equal(fabricIcrc(p), icrcOf(header(len), p), `${len} bytes: same value as icrcOf`)
    const icrc = fabricIcrc(p)
    let missed = 0
    for (let bit = 0; bit < len * 8; bit += len > 200 ? 37 : 1) {
      p[bit >>> 3]! ^= 1 << (bit & 7)
      const changed = fabricIcrc(p) !== icrc
      p[bit >>> 3]! ^= 1 << (bit & 7)
      if (changed === (bit >>> 3 === 4)) missed++
    }
    t.equal(missed, 0, `${len} bytes: every flip outside BTH byte 4 detected, flips in it (masked) not`)
  }
})
