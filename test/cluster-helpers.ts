/**
 * Helpers for tests that run the real CLI: spawn `rdma-emu` commands, find
 * their processes, and make sure none is left behind.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'

export const BIN = fileURLToPath(new URL('../nodes/rdma-emu.js', import.meta.url))
export const ROOT = fileURLToPath(new URL('..', import.meta.url))

export interface CliResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

/** A fresh temporary directory, removed after the test. */
export function tempDir(t: Test, prefix = 'rdma-emu-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** Write a JSON (or raw text) config into `dir`; returns its path. */
export function writeConfig(dir: string, config: unknown, name = 'cluster.config.json'): string {
  const file = join(dir, name)
  writeFileSync(file, typeof config === 'string' ? config : JSON.stringify(config, null, 2))
  return file
}

/** Run a command to completion, killed (and the promise rejected) after `timeoutMs`. */
export function runCommand(cmd: string, args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs: number }): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`${cmd} ${args.join(' ')}: no exit within ${opts.timeoutMs} ms\n${stdout}\n${stderr}`))
    }, opts.timeoutMs)
    child.on('error', (err) => {
      clearTimeout(timer)
      reject(err)
    })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr })
    })
  })
}

/** Run `rdma-emu ARGS` to completion. */
export function runCli(args: string[], opts: { cwd?: string; timeoutMs?: number } = {}): Promise<CliResult> {
  return runCommand(process.execPath, [BIN, ...args], { cwd: opts.cwd ?? ROOT, timeoutMs: opts.timeoutMs ?? 30000 })
}

/** A live process, not a zombie waiting for its parent to reap it. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  try {
    // Field 3 of /proc/PID/stat is the state; after the ')' of the command name.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z'
  } catch {
    return false
  }
}

/** Wait until none of `pids` is alive; resolves with the ones still alive after `ms`. */
export async function waitGone(pids: number[], ms: number): Promise<number[]> {
  const deadline = Date.now() + ms
  for (;;) {
    const alive = pids.filter(isAlive)
    if (alive.length === 0 || Date.now() > deadline) return alive
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** PIDs of live processes whose command line contains `needle` (e.g. a test's run directory). */
export function pidsMatching(needle: string): number[] {
  const pids: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const pid = Number(entry)
    if (pid === process.pid) continue
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ')
      if (cmd.includes(needle) && isAlive(pid)) pids.push(pid)
    } catch {
      // Exited while we looked.
    }
  }
  return pids
}

/** Kill every process of the test (by command line) after it, whatever happened. */
export function reapAfter(t: Test, needle: string, extra: () => number[] = () => []): void {
  t.teardown(async () => {
    for (const pid of [...extra(), ...pidsMatching(needle)]) {
      try {
        process.kill(pid, 'SIGKILL')
      } catch {
        // Gone.
      }
    }
    await waitGone([...extra(), ...pidsMatching(needle)], 5000)
  })
}

export interface UpNode {
  id: string
  role: string
  pid: number
  endpoint: string
  logFile: string
}

export interface RunningUp {
  child: ChildProcess
  runDir: string
  nodes: UpNode[]
  stdout: () => string
  stderr: () => string
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

/** Start `rdma-emu up --json` in a temporary run directory and wait for the cluster to be up. */
export async function startUp(t: Test, extraArgs: string[] = [], timeoutMs = 30000): Promise<RunningUp> {
  const runDir = join(tempDir(t), 'run')
  const child = spawn(process.execPath, [BIN, 'up', '--json', '--run-dir', runDir, ...extraArgs], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  let nodes: UpNode[] = []
  reapAfter(t, runDir, () => [child.pid!, ...nodes.map((n) => n.pid)])
  let stdout = ''
  let stderr = ''
  child.stderr!.on('data', (d) => (stderr += d))
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.on('exit', (code, signal) => r({ code, signal })))
  nodes = await new Promise<UpNode[]>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`cluster not up within ${timeoutMs} ms\n${stdout}\n${stderr}`)), timeoutMs)
    child.stdout!.on('data', (d) => {
      stdout += d
      const line = stdout.split('\n').find((l) => l.startsWith('{') && l.includes('"event":"up"'))
      if (line) {
        clearTimeout(timer)
        resolve(JSON.parse(line).nodes)
      }
    })
    void exited.then((e) => {
      clearTimeout(timer)
      reject(new Error(`up exited early (${e.code ?? e.signal})\n${stdout}\n${stderr}`))
    })
  })
  return { child, runDir, nodes, stdout: () => stdout, stderr: () => stderr, exited }
}

/**
 * Start a throw-away client process (`node --import tsx SCRIPT ...args`) and
 * wait for the first line it prints (it has done its setup). The teardown
 * kills it if it is still running. `exited` resolves with its signal.
 */
export async function startClientScript(t: Test, script: string, args: string[], cwd: string): Promise<{ child: ChildProcess; exited: Promise<NodeJS.Signals | null> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { cwd, stdio: ['ignore', 'pipe', 'inherit'] })
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_c, sig) => resolve(sig)))
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    return exited
  })
  await new Promise<void>((resolve, reject) => {
    let out = ''
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString()
      if (out.includes('\n')) resolve()
    })
    void exited.then(() => reject(new Error('client exited before its first line')))
  })
  return { child, exited }
}
