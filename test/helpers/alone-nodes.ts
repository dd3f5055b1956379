/**
 * Nodes started one by one (`rdma-emu node --id X`, no launcher), as a user
 * starts them on several machines: spawn one (optionally under a prefix
 * command, e.g. `ip netns exec NS`), wait for its ready line, stop it with
 * SIGTERM. Every node is killed after the test whatever happened. And free
 * TCP ports for configurations with fixed ports.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'
import type { Test } from 'tap'
import { BIN, ROOT, waitGone } from '../cluster-helpers.ts'

/** A TCP port free on `host` now (the OS picks it; closed again before use). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, host, () => {
      const p = (s.address() as { port: number }).port
      s.close(() => resolve(p))
    })
  })
}

export interface AloneNode {
  id: string
  child: ChildProcess
  pid: number
  stdout(): string
  stderr(): string
  /** Resolves with the ready line; rejects when the node exits first or after `readyMs`. */
  ready: Promise<string>
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  /** Resolves once stdout matches `re`; rejects when the node exits first or after `ms`. */
  output(re: RegExp, ms?: number): Promise<void>
  /** SIGTERM, then the exit (SIGKILL after `ms`). */
  stop(ms?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

/** Start `rdma-emu node --id ID ARGS` (under `prefix` when given); killed after the test. */
export function startAlone(t: Test, id: string, args: string[], opts: { prefix?: string[]; readyMs?: number } = {}): AloneNode {
  const argv = [...(opts.prefix ?? []), process.execPath, BIN, 'node', '--id', id, ...args]
  const child = spawn(argv[0]!, argv.slice(1), { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stdout!.on('data', (d) => (out += d))
  child.stderr!.on('data', (d) => (err += d))
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once('exit', (code, signal) => r({ code, signal })))
  const running = () => child.exitCode === null && child.signalCode === null
  t.teardown(async () => {
    if (running()) child.kill('SIGKILL')
    await exited
    await waitGone([child.pid!], 5000)
  })
  const readyMs = opts.readyMs ?? 60000
  const ready = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`node ${id}: no ready line within ${readyMs} ms\n${out}\n${err}`)), readyMs)
    const look = () => {
      const line = out.split('\n').find((l) => l.startsWith(`node ${id} (`) && l.includes(' ready at '))
      if (line) {
        clearTimeout(timer)
        child.stdout!.off('data', look)
        resolve(line)
      }
    }
    child.stdout!.on('data', look)
    void exited.then((e) => {
      clearTimeout(timer)
      reject(new Error(`node ${id} exited before ready (${e.code ?? e.signal})\n${out}\n${err}`))
    })
  })
  ready.catch(() => {})
  const stop = async (ms = 10000) => {
    if (running()) child.kill('SIGTERM')
    const timer = setTimeout(() => running() && child.kill('SIGKILL'), ms)
    const e = await exited
    clearTimeout(timer)
    return e
  }
  const output = (re: RegExp, ms = 30000) => new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`node ${id}: no output matching ${re} within ${ms} ms\n${out}\n${err}`)), ms)
    const look = () => re.test(out) && done()
    const done = (e?: Error) => {
      clearTimeout(timer)
      child.stdout!.off('data', look)
      if (e) reject(e)
      else resolve()
    }
    child.stdout!.on('data', look)
    look()
    void exited.then(() => done(new Error(`node ${id} exited (${child.exitCode ?? child.signalCode})\n${out}\n${err}`)))
  })
  return { id, child, pid: child.pid!, stdout: () => out, stderr: () => err, ready, exited, output, stop }
}
