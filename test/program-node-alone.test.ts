import { join } from 'node:path'
import t from 'tap'
import { pidsMatching, runCli, writeConfig } from './cluster-helpers.ts'
import { programDir, writeProgram } from './helpers/programs.ts'

// `rdma-emu node --id ID --program FILE -- ARGS` runs one node with a program
// of the command line's choosing (not the configuration's): the program gets
// its host and arguments, and the node exits when the program ends, with the
// program's status.
t.test('program - rdma-emu node --program runs the program and exits with its status', async (t) => {
  const dir = programDir(t)
  const file = writeProgram(dir, 'alone.mjs', `
export default async function (host) {
  const pd = host.ctx.allocPd()
  const mr = pd.regMr(16, 1)
  const ok = host.id === 'solo' && host.role === 'client' && host.peers.length === 0 && host.args.join(',') === 'x,y' && mr.length === 16
  console.log(JSON.stringify({ id: host.id, role: host.role, args: host.args, ok }))
  return ok ? 5 : 1
}
`)
  const cfg = writeConfig(dir, { logLevel: 'warn', nodes: [{ id: 'solo', role: 'client' }] })
  const runDir = join(dir, 'run')
  const r = await runCli(['node', '--id', 'solo', '-c', cfg, '--run-dir', runDir, '--program', file, '--', 'x', 'y'])
  t.equal(r.code, 5, `the node exits with the program's status ${r.stderr}`)
  t.match(r.stdout, /"ok":true/, 'the program saw its host and its arguments')
  t.match(r.stderr, /node solo: program \S*alone\.mjs exited with code 5/, 'the non-zero status is reported')
  t.same(pidsMatching(runDir), [], 'no process of the run remains')

  const bad = await runCli(['node', '--id', 'solo', '-c', cfg, '--run-dir', runDir, '--program', join(dir, 'nope.mjs')])
  t.equal(bad.code, 2, 'a missing --program file: exit 2')
  t.match(bad.stderr, /--program: program file not found: \S*nope\.mjs/)
})
