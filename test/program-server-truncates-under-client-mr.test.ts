import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { pidsMatching } from './cluster-helpers.ts'
import { programDir, runUp, writeProgram, type UpRun } from './helpers/programs.ts'

// The truncate race as two programs, the way the seeds tell it: on the server
// node, "process B" (a program with the server's own file system) creates
// A.dat and truncates it to one page while a client program keeps WRITING
// through a file-backed MR over all 16 pages (registered on the server as the
// client); B.dat is created at once and takes whatever blocks A gave up. The
// server program reports what happened from its counters. The outcomes are
// those `rdma-emu run truncate-race` reports for the same policies.
const PAGE = 4096

const SERVER = `
import { writeFileSync } from 'node:fs'
import { EmuError } from '__API__'
export default async function (host) {
  const [out] = host.args
  const fs = host.fs
  await fs.create('A.dat', { dax: true })
  await fs.write('A.dat', 0, new Uint8Array(16 * ${PAGE}).fill(17))
  await host.send('client0', { file: 'A.dat', length: 16 * ${PAGE} }, 'ready')
  await host.recv({ from: 'client0', tag: 'writing' })
  let truncateResult = 'ok'
  try {
    await fs.truncate('A.dat', ${PAGE})
  } catch (err) {
    if (!(err instanceof EmuError)) throw err
    truncateResult = err.code.replace(/^ERR_/, '')
  }
  await fs.create('B.dat', { dax: true })
  await fs.write('B.dat', 0, new Uint8Array(15 * ${PAGE}).fill(187))
  await host.send('client0', { truncateResult }, 'truncated')
  const { data: writes } = await host.recv({ from: 'client0', tag: 'done' })
  const c = await host.counters()
  const b = await fs.read('B.dat', 0, 15 * ${PAGE})
  const report = {
    truncateResult, writes,
    size: (await fs.stat('A.dat')).size,
    corruptBytes: c.oracle.corruptBytes,
    victims: c.oracle.victims.map((v) => ({ file: v.victim, bytes: v.bytes })),
    mismatchBytes: b.filter((x) => x !== 187).length,
    policy: c.policy.name, layoutFailed: c.policy.layoutFailed,
    pinsAcquired: c.pins.nr_foll_pin_acquired,
  }
  writeFileSync(out, JSON.stringify(report))
  await host.send('client0', null, 'reported')
}
`

const CLIENT = `
import { Access, SendFlags, WcStatus, wcStatusName, WrOpcode } from '__API__'
export default async function (host) {
  const { data: f } = await host.recv({ from: 'server0', tag: 'ready' })
  const srv = host.server('server0')
  const pd = await srv.allocPd()
  await srv.listen(7000, { pd })
  const mr = await srv.regFile(pd, f.file, { length: f.length, access: Access.LOCAL_WRITE | Access.REMOTE_WRITE })
  const conn = await host.cm.connect('server0', 7000)
  const zeros = conn.pd.regMr(new Uint8Array(${PAGE}), Access.LOCAL_WRITE)
  const pages = f.length / ${PAGE}
  let truncated
  void host.recv({ from: 'server0', tag: 'truncated' }).then((m) => (truncated = m.data))
  let posted = 0, completed = 0, errors = 0, firstError, after = 0, told = false
  for (;;) {
    const more = errors === 0 && !(truncated && after >= 300)
    while (more && posted - completed < 4) {
      conn.qp.postSend({ wrId: posted, opcode: WrOpcode.RDMA_WRITE, sgList: [zeros.sge()], remoteAddr: mr.addr + (posted % pages) * ${PAGE}, rkey: mr.rkey, sendFlags: SendFlags.SIGNALED })
      posted++
    }
    if (completed === posted) break
    const wc = await conn.cq.next()
    completed++
    if (wc.status !== WcStatus.SUCCESS) { errors++; firstError ??= wcStatusName(wc.status) }
    if (truncated) after++
    if (!told && completed >= 50) { told = true; void host.send('server0', null, 'writing') }
  }
  await host.send('server0', { posted, completed, errors, firstError }, 'done')
  await host.recv({ from: 'server0', tag: 'reported' })
  await mr.dereg()
}
`

/** What the server program wrote. */
interface Report {
  truncateResult: string
  writes: { posted: number; completed: number; errors: number; firstError?: string }
  size: number
  corruptBytes: number
  victims: Array<{ file: string; bytes: number }>
  mismatchBytes: number
  policy: string
  layoutFailed: number
  pinsAcquired: number
}

async function race(t: Test, policy: string): Promise<{ run: UpRun; report: Report }> {
  const dir = programDir(t)
  writeProgram(dir, 'process-b.mjs', SERVER)
  writeProgram(dir, 'writer.mjs', CLIENT)
  const out = join(dir, 'report.json')
  const run = await runUp(t, dir, {
    logLevel: 'warn',
    nodes: [
      { id: 'server0', role: 'server', server: { policy }, program: 'process-b.mjs', args: [out] },
      { id: 'client0', role: 'client', program: 'writer.mjs' },
    ],
  })
  t.equal(run.code, 0, `up exits 0 once the client program ends ${run.stderr}`)
  t.same(run.leftBehind, [], 'no node process remains (by PID)')
  t.same(pidsMatching(run.runDir), [], 'no process of the run remains')
  return { run, report: JSON.parse(readFileSync(out, 'utf8')) }
}

t.test('program - a server program truncates a file a client program writes through a file-backed MR', async (t) => {
  await t.test('unsafe-gup: the truncate goes through, the NIC corrupts the file that reuses the blocks', async (t) => {
    const { report: r } = await race(t, 'unsafe-gup')
    t.equal(r.policy, 'unsafe-gup')
    t.equal(r.pinsAcquired, 16, 'the registration long-term pinned the 16 pages')
    t.equal(r.truncateResult, 'ok', 'truncateResult ok')
    t.equal(r.size, PAGE, 'A.dat shrank to one page')
    t.ok(r.corruptBytes > 0, `the oracle counted ${r.corruptBytes} corrupt bytes`)
    // Writes that land between the truncate and B.dat's allocation hit free blocks: the oracle names those "free".
    const victims = r.victims.map((v) => v.file)
    t.ok(victims.includes('B.dat'), `B.dat, which got the freed blocks, is a victim (${victims.join(', ')})`)
    t.same(victims.filter((v) => v !== 'B.dat' && v !== 'free'), [], 'no other file is a victim')
    t.ok(r.mismatchBytes > 0, `B.dat really changed (${r.mismatchBytes} bytes differ)`)
    t.equal(r.writes.errors, 0, `all ${r.writes.completed} WRITEs succeeded: the NIC never noticed`)
  })
  await t.test('deny: the truncate fails with ETXTBSY, nothing is corrupted', async (t) => {
    const { report: r } = await race(t, 'deny')
    t.equal(r.policy, 'deny')
    t.equal(r.pinsAcquired, 16, 'the registration long-term pinned the 16 pages')
    t.equal(r.truncateResult, 'ETXTBSY', 'truncateResult ETXTBSY')
    t.equal(r.layoutFailed, 1, 'one layout change refused')
    t.equal(r.size, 16 * PAGE, 'A.dat kept its size')
    t.equal(r.corruptBytes, 0, 'the oracle counted no corrupt byte')
    t.same(r.victims, [], 'no victim')
    t.equal(r.mismatchBytes, 0, 'B.dat intact')
    t.equal(r.writes.errors, 0, `all ${r.writes.completed} WRITEs succeeded`)
  })
})
