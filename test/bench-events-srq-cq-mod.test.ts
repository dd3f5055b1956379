import t, { type Test } from 'tap'
import { startBench } from './helpers/bench-run.ts'

// The perftest options that change how the run posts and completes, taking
// effect on real clusters (what the client node's loop and the server's
// SRQ counted, in the JSON): -Q signals every Q-th WR (one completion per Q
// operations), -l posts lists of l WRs (one postSend per l), -e waits on a
// completion channel (CQ events taken), --use-srq puts the server's
// receives on a shared receive queue (its QP took them from there), -m and
// -u set the QPs' path MTU and ACK timeout (both ends, qp.query), -p the CM
// port. The data checks still hold. Runs in parallel.
const bench = (t: Test, args: string[]) => startBench(t, [...args, '--json'])
const sendSrq = bench(t, ['send_bw', '-s', '64', '-n', '1000', '-e', '--use-srq', '-Q', '10', '-p', '19515'])
const readList = bench(t, ['read_bw', '-s', '64', '-n', '960', '-l', '16', '-Q', '8', '-e', '-m', '1024', '-u', '16'])
const atomicMod = bench(t, ['atomic_bw', '-n', '200', '-t', '16', '-Q', '4'])

interface Doc {
  results: Record<string, number>
  dataCheck: { ok: boolean; problems: string[] }
  perftestOptions: Record<string, unknown>
  completions: { polled: number; cqEvents: number; postCalls: number }
  srq?: { srqn: number; posted: number; taken: number }
  qp: { client: { pathMtu: number; timeout: number }; server: { pathMtu: number; timeout: number } }
}

function parse(t: Test, r: { code: number | null; stdout: string; stderr: string }): Doc {
  t.equal(r.code, 0, r.stderr)
  // perftest's results, and our figures under rdma_emu.
  const json = JSON.parse(r.stdout) as { results: Doc['results']; rdma_emu: Omit<Doc, 'results'> }
  const doc: Doc = { ...json.rdma_emu, results: json.results }
  t.same(doc.dataCheck, { ok: true, problems: [] }, 'the data check holds')
  return doc
}

t.test('bench - send_bw -e --use-srq -Q 10 -p: events, an SRQ, one completion per 10 sends', async (t) => {
  const doc = parse(t, await sendSrq(t))
  t.equal(doc.results.n_iterations, 1000)
  t.equal(doc.completions.polled, 100, '-Q 10: 1000 sends, 100 completions')
  t.ok(doc.completions.cqEvents >= 1 && doc.completions.cqEvents <= 100, `-e: ${doc.completions.cqEvents} CQ events taken on the completion channel`)
  t.equal(doc.completions.postCalls, 1000, 'no -l: one WR per postSend')
  t.ok(doc.srq, '--use-srq: the server had an SRQ')
  t.equal(doc.srq!.taken, 1000, 'the server QP took its 1000 receives from the SRQ')
  t.ok(doc.srq!.posted >= 1000, `${doc.srq!.posted} receives posted to the SRQ`)
  t.equal(doc.perftestOptions.port, 19515, '-p: the CM port')
  t.equal(doc.qp.client.pathMtu, 4096, 'default MTU')
})

t.test('bench - read_bw -l 16 -Q 8 -e -m 1024 -u 16: post lists, moderation, events, MTU and timeout', async (t) => {
  const doc = parse(t, await readList(t))
  t.equal(doc.completions.polled, 120, '960 reads, a completion every 8')
  t.equal(doc.completions.postCalls, 60, 'post lists of 16: 60 postSend calls')
  t.ok(doc.completions.cqEvents >= 1, `${doc.completions.cqEvents} CQ events`)
  t.same([doc.qp.client.pathMtu, doc.qp.server.pathMtu], [1024, 1024], '-m 1024 at both ends')
  t.equal(doc.qp.client.timeout, 16, '-u 16 on the requester')
})

t.test('bench - atomic_bw -Q 4: every FETCH_AND_ADD checked, one completion per 4', async (t) => {
  const doc = parse(t, await atomicMod(t))
  t.equal(doc.completions.polled, 50)
  t.equal(doc.completions.cqEvents, 0, 'no -e: the CQ is awaited, not evented')
  t.equal(doc.results.n_iterations, 200)
})
