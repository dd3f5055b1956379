import { seededRandom } from '../fabric/faults.ts'
/** Builders of crafted histories and final memories for the checker tests. */

import { wordValue, type FinalMemory, type History, type HistoryOp } from '../src/check/history.ts'

export const MR = 'mr0'
export const SERVER = 's1'

/** An operation with defaults: SUCCESS, one completion, client c1, qp 1, mr0@s1, one word at 0. */
export function op(p: Partial<HistoryOp> & { id: number; op: HistoryOp['op']; postedUs: number }): HistoryOp {
  const status = p.status ?? 'SUCCESS'
  return {
    stream: 't', client: 'c1', qpn: 1, mr: MR, server: SERVER, offset: 0, length: 8,
    completions: status === 'PENDING' ? 0 : 1,
    completedUs: status === 'PENDING' ? undefined : p.postedUs + 10,
    ...p,
    status,
  }
}

/** A WRITE of words [word, word + n) over [posted, completed]. */
export function write(id: number, posted: number, completed: number | undefined, opts: { word?: number; n?: number; status?: string; client?: string; qpn?: number } = {}): HistoryOp {
  const status = opts.status ?? (completed === undefined ? 'PENDING' : 'SUCCESS')
  return op({ id, op: 'write', postedUs: posted, completedUs: completed, offset: (opts.word ?? 0) * 8, length: (opts.n ?? 1) * 8, status, client: opts.client ?? 'c1', qpn: opts.qpn ?? 1 })
}

/** A successful READ of words [word, word + values.length) that returned `values`. */
export function read(id: number, posted: number, completed: number, values: bigint[], word = 0): HistoryOp {
  return op({ id, op: 'read', postedUs: posted, completedUs: completed, offset: word * 8, length: values.length * 8, words: values })
}

/** The value WRITE `id` put in word `w`. */
export const wv = wordValue

export function history(ops: HistoryOp[], extra: Partial<History> = {}): History {
  return { ops, flushes: [], restarts: [], ...extra }
}

/** A final memory of `n` words, all `initial` except `words` (word -> value). */
export function memory(words: Record<number, bigint>, n = 16, initial = 0n, mr = MR, server = SERVER): FinalMemory {
  const bytes = new Uint8Array(n * 8)
  const dv = new DataView(bytes.buffer)
  for (let w = 0; w < n; w++) dv.setBigUint64(w * 8, words[w] ?? initial, true)
  return { mr, server, initial: () => initial, bytes }
}

/** mulberry32, the fabric's seeded PRNG in [0, 1). */
export const prng = seededRandom
