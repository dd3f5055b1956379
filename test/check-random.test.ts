/**
 * Randomized: a simulated register per word (clients with concurrent windows,
 * each operation taking effect at a random point between its posting and its
 * completion) yields a correct history and final memory that every checker
 * passes; one mutation of it then fails the checker it should.
 */
import t from 'tap'
import { wordValue, type FinalMemory, type History, type HistoryOp } from '../src/check/history.ts'
import { formatResults } from '../src/check/format.ts'
import { allPassed, runCheckers } from '../src/check/run.ts'
import { MR, SERVER, prng } from './check-helpers.ts'

interface Sim { history: History; memory: FinalMemory[]; lin: Map<number, number> }

interface SimOptions {
  seed: number; clients: number; ops: number; dataWords: number; faWords: number; casWords: number; errorRate: number
  /** Restart the server then, after a FLUSH 2 ms before; no operation in flight around it. */
  restartUs?: number
}
const FLUSH_BEFORE = 2000

function simulate(o: SimOptions): Sim {
  const rnd = prng(o.seed)
  const int = (n: number) => Math.floor(rnd() * n)
  const total = o.dataWords + o.faWords + o.casWords
  const planned: Array<{ op: HistoryOp; lin: number }> = []
  let id = 1
  for (let c = 0; c < o.clients; c++) {
    let now = int(50)
    let connection = 0
    for (let k = 0; k < o.ops / o.clients; k++) {
      const R = o.restartUs
      if (R !== undefined && now + 100 > R - 50 && now < R + 100) now = R + 100 + int(50)
      const postedUs = now
      const lin = postedUs + 1 + int(40)
      const completedUs = lin + 1 + int(40)
      now = completedUs + int(20)
      const pick = rnd()
      // Every field in one literal, as a recorder should build them: one object layout.
      const op: HistoryOp = {
        id: id++, stream: 't', client: `c${c}`, qpn: 0x10 + c, connection, op: 'write', mr: MR, server: SERVER, offset: 0, length: 8,
        value: undefined, compare: undefined, result: undefined, words: undefined, postedUs, completedUs, status: 'SUCCESS', completions: 1,
      }
      if (pick < 0.7) {
        const n = 1 + int(8)
        op.op = pick < 0.4 ? 'write' : 'read'
        // After a restart, the top quarter is only read: it keeps what the restart left.
        const span = R !== undefined && postedUs > R && op.op === 'write' ? Math.floor(o.dataWords * 0.75) : o.dataWords
        op.offset = int(span - n + 1) * 8
        op.length = n * 8
      } else if (pick < 0.85) {
        op.op = 'fetchAdd'
        op.offset = (o.dataWords + int(o.faWords)) * 8
        op.value = BigInt(1 + int(5))
      } else {
        op.op = 'cmpSwap'
        op.offset = (o.dataWords + o.faWords + int(o.casWords)) * 8
        op.value = 0x5000_0000n + BigInt(op.id)
      }
      if (op.op !== 'read' && rnd() < o.errorRate) {
        op.status = 'RETRY_EXC_ERR'
        connection++ // the client reconnects
      }
      planned.push({ op, lin })
    }
  }
  planned.sort((a, b) => a.lin - b.lin)
  let mem = new Array<bigint>(total).fill(0n)
  let snapshot: bigint[] | undefined
  let restarted = false
  for (const { op, lin } of planned) {
    if (o.restartUs !== undefined) {
      if (!snapshot && lin >= o.restartUs - FLUSH_BEFORE) snapshot = mem.slice() // what the FLUSH made durable
      if (!restarted && lin >= o.restartUs) { mem = (snapshot ?? mem).slice(); restarted = true }
    }
    const w = op.offset / 8
    const applied = op.status === 'SUCCESS' || rnd() < 0.5
    if (op.op === 'write') {
      if (applied) for (let i = 0; i < op.length / 8; i++) mem[w + i] = wordValue(op.id, w + i)
    } else if (op.op === 'read') {
      op.words = mem.slice(w, w + op.length / 8)
    } else if (op.op === 'fetchAdd') {
      if (op.status === 'SUCCESS') op.result = mem[w]
      if (applied) mem[w] += op.value as bigint
    } else {
      op.compare = rnd() < 0.6 ? mem[w] : 0x7000n + BigInt(int(1000))
      if (op.status === 'SUCCESS') op.result = mem[w]
      if (applied && mem[w] === op.compare) mem[w] = op.value as bigint
    }
  }
  const bytes = new Uint8Array(total * 8)
  const dv = new DataView(bytes.buffer)
  mem.forEach((v, i) => dv.setBigUint64(i * 8, v, true))
  const ops = planned.map((p) => p.op).sort((a, b) => a.id - b.id)
  return {
    history: o.restartUs === undefined ? { ops, flushes: [], restarts: [] } : {
      ops,
      flushes: [{ mr: MR, server: SERVER, postedUs: o.restartUs - FLUSH_BEFORE, completedUs: o.restartUs - FLUSH_BEFORE + 20 }],
      restarts: [{ server: SERVER, atUs: o.restartUs }],
    },
    memory: [{ mr: MR, server: SERVER, initial: () => 0n, bytes }],
    lin: new Map(planned.map((p) => [p.op.id, p.lin])),
  }
}

const OPTS: SimOptions = { seed: 1, clients: 6, ops: 3000, dataWords: 48, faWords: 4, casWords: 4, errorRate: 0.02 }
const ALLOWED = ['RETRY_EXC_ERR']

function clone(s: Sim): Sim {
  return {
    history: structuredClone(s.history),
    memory: s.memory.map((m) => ({ ...m, bytes: m.bytes.slice() })),
    lin: s.lin,
  }
}
function run(s: Sim) {
  return runCheckers({ history: s.history, memory: s.memory, allowedErrors: ALLOWED })
}
function kinds(s: Sim): string[] {
  return [...new Set(run(s).flatMap((r) => r.anomalies.map((a) => a.kind)))]
}
function setFinal(s: Sim, word: number, v: bigint): void {
  new DataView(s.memory[0].bytes.buffer).setBigUint64(word * 8, v, true)
}
function getFinal(s: Sim, word: number): bigint {
  return new DataView(s.memory[0].bytes.buffer).getBigUint64(word * 8, true)
}
const acked = (o: HistoryOp) => o.status === 'SUCCESS'
const coversWord = (o: HistoryOp, w: number) => o.op === 'write' && o.offset / 8 <= w && w < (o.offset + o.length) / 8

t.test('correct simulated histories pass every checker', async (t) => {
  for (const seed of [1, 2, 3, 4, 5]) {
    const s = simulate({ ...OPTS, seed })
    const results = run(s)
    t.ok(allPassed(results), `seed ${seed}\n${formatResults(results)}`)
    t.equal(results.length, 4)
    const reg = results.find((r) => r.name === 'register')
    t.ok((reg?.counts?.readWords ?? 0) > 1000, 'many word reads were checked')
    t.ok((results.find((r) => r.name === 'atomics')?.counts?.indeterminate ?? 0) > 0, 'with indeterminate atomics')
  }
})

t.test('across a FLUSH and a server restart: unflushed writes are reported, not violations', async (t) => {
  for (const seed of [11, 12, 13]) {
    const s = simulate({ ...OPTS, seed, restartUs: 15_000 })
    const results = run(s)
    t.ok(allPassed(results), `seed ${seed}\n${formatResults(results)}`)
    const lw = results.find((r) => r.name === 'lost-write')
    t.ok((lw?.counts?.unflushed ?? 0) > 0, 'some acknowledged writes were unflushed')
    t.ok((lw?.counts?.unflushedLostWords ?? 0) > 0, 'and some of their words were lost')
    t.equal(lw?.notes?.[0]?.kind, 'unflushed')
    t.ok((results.find((r) => r.name === 'atomics')?.counts?.restarted ?? 0) > 0, 'atomics of the restarted server are skipped')
    // The same history without the restart: the lost unflushed writes are violations, the reads after it stale.
    const noRestart = clone(s)
    noRestart.history.restarts = []
    const k = kinds(noRestart)
    t.ok(k.includes('lost-write') || k.includes('duplicated-write'), k.join())
    t.ok(k.includes('stale-read'), k.join())
  }
})

t.test('one mutation fails the checker it should', async (t) => {
  const base = simulate(OPTS)
  const ops = base.history.ops
  const writes = ops.filter((o) => o.op === 'write' && acked(o))

  t.test('a stale read', async (t) => {
    const s = clone(base)
    const sops = s.history.ops
    let done = false
    for (const r of sops) {
      if (done || r.op !== 'read') continue
      for (let i = 0; i < (r.words?.length ?? 0) && !done; i++) {
        const w = r.offset / 8 + i
        const ws = writes.filter((o) => coversWord(o, w))
        const y = ws.find((y) => (y.completedUs as number) < r.postedUs && ws.some((x) => (x.completedUs as number) < y.postedUs))
        const x = y && ws.find((x) => (x.completedUs as number) < y.postedUs)
        if (x && r.words) { r.words[i] = wordValue(x.id, w); done = true }
      }
    }
    t.ok(done, 'found a read to make stale')
    t.same(kinds(s), ['stale-read'])
  })

  t.test('a read from the future', async (t) => {
    const s = clone(base)
    const r = s.history.ops.find((o) => o.op === 'read' && writes.some((z) => coversWord(z, o.offset / 8) && z.postedUs > (o.completedUs as number)))
    t.ok(r)
    if (!r?.words) return
    const z = writes.find((z) => coversWord(z, r.offset / 8) && z.postedUs > (r.completedUs as number)) as HistoryOp
    r.words[0] = wordValue(z.id, r.offset / 8)
    t.same(kinds(s), ['future-read'])
  })

  t.test('a lost (or replayed) write in the final memory', async (t) => {
    const s = clone(base)
    let done = false
    for (let w = 0; w < OPTS.dataWords && !done; w++) {
      const ws = writes.filter((o) => coversWord(o, w))
      const y = ws.find((y) => getFinal(s, w) === wordValue(y.id, w))
      const x = y && ws.find((x) => (x.completedUs as number) < y.postedUs)
      if (x) { setFinal(s, w, wordValue(x.id, w)); done = true }
    }
    t.ok(done)
    const k = kinds(s)
    t.equal(k.length, 1)
    t.ok(k[0] === 'lost-write' || k[0] === 'duplicated-write', k[0])
  })

  t.test('a misplaced write', async (t) => {
    const s = clone(base)
    const x = writes.find((o) => o.length >= 16) as HistoryOp
    const w = x.offset / 8
    setFinal(s, w, wordValue(x.id, w + 1)) // word w + 1's value in word w
    const k = kinds(s)
    t.ok(k.includes('misplaced-write'), k.join())
  })

  t.test('a wrong FETCH_ADD total and a duplicate result', async (t) => {
    const s = clone(base)
    const w = OPTS.dataWords
    setFinal(s, w, getFinal(s, w) + 100n)
    t.same(kinds(s), ['wrong-total'])
    const s2 = clone(base)
    const fas = s2.history.ops.filter((o) => o.op === 'fetchAdd' && acked(o) && o.offset === w * 8)
    fas[1].result = fas[0].result
    t.ok(kinds(s2).includes('duplicate-result'))
  })

  t.test('an impossible CMP_SWAP result', async (t) => {
    const s = clone(base)
    const c = s.history.ops.find((o) => o.op === 'cmpSwap' && acked(o) && o.result !== o.compare) as HistoryOp
    c.result = 0xbadn
    t.same(kinds(s), ['impossible-result'])
  })

  t.test('a WR completed twice, one never completed, an error no fault explains', async (t) => {
    const s = clone(base)
    s.history.ops[10].completions = 2
    t.same(kinds(s), ['completed-twice'])
    const s2 = clone(base)
    const last = s2.history.ops.filter((o) => o.client === 'c0').at(-1) as HistoryOp
    last.status = 'PENDING'
    last.completions = 0
    delete last.completedUs
    t.same(kinds(s2), ['never-completed'])
    const s3 = clone(base)
    s3.history.ops.find((o) => o.op === 'read')!.status = 'REM_ACCESS_ERR'
    t.ok(kinds(s3).includes('unexplained-error'))
  })
})

t.test('100,000 operations over a few thousand words check quickly', async (t) => {
  const s = simulate({ seed: 7, clients: 16, ops: 100_000, dataWords: 4096, faWords: 32, casWords: 32, errorRate: 0.001 })
  const start = performance.now()
  const results = run(s)
  const ms = performance.now() - start
  t.ok(allPassed(results), formatResults(results))
  t.comment(`checked ${s.history.ops.length} operations in ${ms.toFixed(0)} ms`)
  t.ok(ms < 2000, `checked in ${ms.toFixed(0)} ms`)
  const mutated = clone(s)
  mutated.history.ops[500].completions = 2
  t.notOk(allPassed(run(mutated)))
})
