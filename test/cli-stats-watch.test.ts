import { spawn } from 'node:child_process'
import t from 'tap'
import { BIN, ROOT, runCli, startUp } from './cluster-helpers.ts'

// `rdma-emu stats --watch` refreshes the table until SIGINT, then exits 0;
// with --json each refresh is one JSON line. --interval is checked: only
// with --watch, and a number of seconds.
t.test('cli - stats --watch refreshes until SIGINT', async (t) => {
  const up = await startUp(t)
  for (const json of [false, true]) {
    const child = spawn(process.execPath, [BIN, 'stats', '--watch', '--interval', '0.2', '--run-dir', up.runDir, ...(json ? ['--json'] : [])], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
    t.teardown(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    })
    let stdout = ''
    let stderr = ''
    child.stderr.on('data', (d) => (stderr += d))
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.on('exit', (code, signal) => r({ code, signal })))
    const refreshes = () => (json ? stdout.split('\n').filter((l) => l.startsWith('{')).length : (stdout.match(/^rdma-emu stats: /gm) ?? []).length)
    // Three refreshes, then SIGINT.
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d) => {
        stdout += d
        if (refreshes() >= 3) resolve()
      })
      void exited.then((e) => reject(new Error(`stats --watch exited before 3 refreshes (${e.code ?? e.signal})\n${stdout}\n${stderr}`)))
    })
    child.kill('SIGINT')
    const e = await exited
    t.same(e, { code: 0, signal: null }, `${json ? '--json: ' : ''}SIGINT ends the watch with exit 0 ${stderr}`)
    if (json) {
      const lines = stdout.trim().split('\n').map((l) => JSON.parse(l) as { at: string; nodes: Array<{ id: string }> })
      for (const l of lines) t.same(l.nodes.map((n) => n.id).sort(), up.nodes.map((n) => n.id).sort(), 'every refresh has every node')
    } else {
      const tables = stdout.split(/^rdma-emu stats: /m).slice(1)
      t.ok(tables.length >= 3, `${tables.length} tables`)
      for (const table of tables) {
        t.match(table, /pins acq\/rel/, 'each refresh is a whole table')
        for (const n of up.nodes) t.match(table, new RegExp(`^${n.id}\\s`, 'm'), `with ${n.id}`)
      }
    }
  }
  const noWatch = await runCli(['stats', '--interval', '1', '--run-dir', up.runDir])
  t.equal(noWatch.code, 2, '--interval without --watch: exit 2')
  t.match(noWatch.stderr, /--interval: only with --watch/)
  const zero = await runCli(['stats', '--watch', '--interval', '0', '--run-dir', up.runDir])
  t.equal(zero.code, 2, '--interval 0: exit 2')
  t.match(zero.stderr, /--interval/)
  up.child.kill('SIGINT')
  await up.exited
})
