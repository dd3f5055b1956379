/**
 * The package as a user gets it: `npm pack` from a copy of the checkout (which
 * builds it, through `prepare`; when the checkout's build is newer than every
 * source, as after `npm test`'s pretest build, that build is copied and packed
 * as is, saving a second full tsc run), then the tarball installed with
 * production dependencies only into a project outside the checkout. No
 * TypeScript loader is installed there: tsx, esbuild and typescript are dev
 * dependencies. Everything lives in one temporary directory, removed after
 * the test.
 */
import { cpSync, existsSync, mkdirSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Test } from 'tap'
import { ROOT, runCommand, tempDir, type CliResult } from '../cluster-helpers.ts'

/** What the copy needs to build and pack: the sources, the build's config and what `files` ships. */
const COPIED = ['src', 'fabric', 'nodes', 'scenarios', 'package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'cluster.config.json', 'README.md']

export interface PackedInstall {
  /** The user's project: package.json and node_modules/rdma-emu. */
  app: string
  /** The installed package. */
  pkg: string
  /** node_modules/.bin/rdma-emu of the user's project. */
  bin: string
  /** The tarball's files, as `npm pack --json` lists them. */
  files: string[]
  /** An environment without the tap process's loaders and npm's run-script variables: a user's shell. */
  env: NodeJS.ProcessEnv
}

export type Run = CliResult

/** A user's environment: no NODE_OPTIONS (tap puts its process-info loader there), no npm_* or tap variables. */
export function userEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (k === 'NODE_OPTIONS' || /^(npm_|TAP|_TAPJS|TS_NODE)/i.test(k)) continue
    env[k] = v
  }
  return env
}

/** Run a command to completion, killed after `timeoutMs`. */
export function run(cmd: string, args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs: number }): Promise<Run> {
  return runCommand(cmd, args, opts)
}

function check(what: string, r: Run): Run {
  if (r.code !== 0) throw new Error(`${what} failed (${r.code ?? r.signal})\n${r.stdout}\n${r.stderr}`)
  return r
}

/**
 * Pack the package and install the tarball into a fresh project.
 * `allowScripts` is the user's project's install-script policy.
 */
export async function packAndInstall(t: Test, opts: { allowScripts?: Record<string, boolean>; timeoutMs?: number } = {}): Promise<PackedInstall> {
  const timeoutMs = opts.timeoutMs ?? 60000
  const dir = tempDir(t, 'rdma-emu-pack-')
  const env = userEnv()

  // Pack from a copy: `prepare` rebuilds the copy's dist/, never the checkout's
  // (node processes of tests running in parallel load that one).
  const stage = join(dir, 'stage')
  mkdirSync(stage)
  for (const f of COPIED) cpSync(join(ROOT, f), join(stage, f), { recursive: true })
  symlinkSync(join(ROOT, 'node_modules'), join(stage, 'node_modules'), 'dir')
  const built = buildIsFresh()
  if (built) cpSync(join(ROOT, 'dist'), join(stage, 'dist'), { recursive: true })
  const packed = check('npm pack', await run('npm', ['pack', '--json', '--pack-destination', dir, '--loglevel=error', ...(built ? ['--ignore-scripts'] : [])], { cwd: stage, env, timeoutMs }))
  const json = packed.stdout.slice(packed.stdout.search(/^\[/m))
  const [info] = JSON.parse(json) as Array<{ filename: string; files: Array<{ path: string }> }>
  const tarball = join(dir, info!.filename)
  if (!existsSync(tarball)) throw new Error(`npm pack wrote no ${tarball}: ${readdirSync(dir).join(', ')}`)

  const app = join(dir, 'app')
  mkdirSync(app)
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'rdma-emu-user', private: true, type: 'module', allowScripts: opts.allowScripts ?? {} }, null, 2))
  check('npm install', await run('npm', ['install', '--omit=dev', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', tarball], { cwd: app, env, timeoutMs }))
  const pkg = join(app, 'node_modules', 'rdma-emu')
  return { app, pkg, bin: join(app, 'node_modules', '.bin', 'rdma-emu'), files: info!.files.map((f) => f.path), env }
}

/** Newest modification time (ms) of the files under `dir` whose names match `re`; 0 when there are none. */
function newest(dir: string, re: RegExp): number {
  if (!existsSync(dir)) return 0
  let t = 0
  for (const f of readdirSync(dir, { recursive: true, encoding: 'utf8' })) if (re.test(f)) t = Math.max(t, statSync(join(dir, f)).mtimeMs)
  return t
}

/** The checkout's dist/ was built after the last change to any source or build config (then it is what `prepare` would build). */
function buildIsFresh(): boolean {
  const dist = newest(join(ROOT, 'dist'), /\.js$/)
  if (dist === 0) return false
  const sources = Math.max(
    ...['src', 'fabric'].map((d) => newest(join(ROOT, d), /\.(ts|mjs|json)$/)),
    ...['tsconfig.json', 'tsconfig.build.json', 'package.json'].map((f) => statSync(join(ROOT, f)).mtimeMs),
  )
  return dist >= sources
}
