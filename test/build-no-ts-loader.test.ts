/**
 * What runs is compiled JavaScript (design brief section 2): the package is
 * packed and installed as a user gets it, with production dependencies only,
 * so no TypeScript loader is there at all. A user's TypeScript program is
 * type-checked against the shipped types, compiled and run: it launches a
 * cluster and WRITEs, READs and FETCH_ADDs through it (issue 10, acceptance 2).
 * The installed CLI brings up a cluster whose server runs its data path in
 * worker threads.
 */
import { spawn } from 'node:child_process'
import { copyFileSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { pidsMatching, reapAfter, ROOT, waitGone, type UpNode } from './cluster-helpers.ts'
import { packAndInstall, run, userEnv } from './helpers/packed-install.ts'

/** Node.js flags that load code before the entry point (a TypeScript loader would come in this way). */
const LOADER_FLAG = /^(--import|--loader|--experimental-loader|--require|-r)(=|$)/
/**
 * TypeScript loaders by name. tap's own process-info hook (plain JavaScript, for
 * coverage) reaches every process a test spawns through NODE_OPTIONS, whatever
 * environment the test passes: that one is allowed.
 */
const TS_LOADER = /tsx|ts-node|@tapjs\/typescript|esbuild-register|@swc-node|typescript/

function cmdline(pid: number): string[] {
  return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((a) => a.length > 0)
}

function environ(pid: number): Map<string, string> {
  const env = new Map<string, string>()
  for (const kv of readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')) {
    const at = kv.indexOf('=')
    if (at > 0) env.set(kv.slice(0, at), kv.slice(at + 1))
  }
  return env
}

function jsFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => /\.(m|c)?js$/.test(f)).map((f) => join(dir, f))
}

/** The bytes the user's program WRITEs: byte i is (i * 7 + 3) & 0xff. */
function pattern(n: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 7 + 3) & 0xff)
}

/**
 * A user's program, as a first-time user writes it from the README: it imports
 * 'rdma-emu', launches its own cluster (one server node, every setting at its default)
 * in the run directory given as its argument, and prints one JSON line.
 */
const USER_PROGRAM = `import { Access, launchCluster, SendFlags, WcStatus, wcStatusName, WrOpcode, type Connection, type SendWr } from 'rdma-emu'

const runDir = process.argv[2]
const cluster = await launchCluster({ nodes: [{ id: 'server0', role: 'server' }] }, { runDir })
try {
  // Server memory to WRITE, READ and FETCH_ADD, and a listener for our QP (both as this host).
  const srv = cluster.host.server('server0')
  const spd = await srv.allocPd()
  const remote = await srv.regMr(spd, 4096, Access.LOCAL_WRITE | Access.REMOTE_WRITE | Access.REMOTE_READ | Access.REMOTE_ATOMIC)
  await srv.writeMr(remote, 0, new Uint8Array(new BigUint64Array([100n]).buffer)) // the counter starts at 100
  await srv.listen(18515, { pd: spd })
  const conn: Connection = await cluster.host.cm.connect('server0', 18515)

  // Post one signaled WR and wait for its completion.
  let wrId = 0
  async function post(wr: Omit<SendWr, 'wrId' | 'sendFlags' | 'rkey'>): Promise<void> {
    conn.qp.postSend({ ...wr, wrId: ++wrId, rkey: remote.rkey, sendFlags: SendFlags.SIGNALED })
    const wc = await conn.cq.next(5000)
    if (wc.status !== WcStatus.SUCCESS) throw new Error(\`WR \${wc.wrId} failed: \${wcStatusName(wc.status)}\`)
  }

  const data = Buffer.alloc(64)
  for (let i = 0; i < data.length; i++) data[i] = (i * 7 + 3) & 0xff
  const src = conn.pd.regMr(data, Access.LOCAL_WRITE)
  await post({ opcode: WrOpcode.RDMA_WRITE, sgList: [src.sge()], remoteAddr: remote.addr + 64 })

  const back = new Uint8Array(64)
  const dst = conn.pd.regMr(back, Access.LOCAL_WRITE)
  await post({ opcode: WrOpcode.RDMA_READ, sgList: [dst.sge()], remoteAddr: remote.addr + 64 })

  // Two FETCH_ADDs on the counter (the original values land in words 0 and 1), then READ it into word 2.
  const words = new BigUint64Array(3)
  const wmr = conn.pd.regMr(words, Access.LOCAL_WRITE)
  await post({ opcode: WrOpcode.ATOMIC_FETCH_AND_ADD, sgList: [wmr.sge(0, 8)], remoteAddr: remote.addr, compareAdd: 5n })
  await post({ opcode: WrOpcode.ATOMIC_FETCH_AND_ADD, sgList: [wmr.sge(8, 8)], remoteAddr: remote.addr, compareAdd: 7n })
  await post({ opcode: WrOpcode.RDMA_READ, sgList: [wmr.sge(16, 8)], remoteAddr: remote.addr })

  console.log(JSON.stringify({
    read: Buffer.from(back).toString('hex'),
    fetched: [words[0], words[1]].map(String),
    final: String(words[2]),
    nodes: cluster.nodes.map((n) => n.pid),
  }))
  await conn.disconnect()
} finally {
  await cluster.stop()
}
`

t.test('build - node processes and workers run compiled JavaScript', async (t) => {
  // The user's project reviews the package's install scripts: none is needed.
  // zeromq and msgpackr-extract load the prebuilt binaries their packages
  // ship; rdma-emu's own `prepare` builds a checkout, and the tarball holds the build.
  const inst = await packAndInstall(t, { allowScripts: { 'rdma-emu': false, zeromq: false, 'msgpackr-extract': false } })
  const { app, pkg, bin, env } = inst
  const runDir = join(app, 'run')

  t.test('the package ships the build, the CLI, the scenarios and the schemas; no tests, sources or CI', async (t) => {
    const files = new Set(inst.files)
    for (const f of ['package.json', 'README.md', 'cluster.config.json', 'nodes/rdma-emu.js', 'dist/src/cli/main.js', 'dist/src/cli/main.d.ts', 'dist/src/workers/data-path-worker.js', 'dist/fabric/codec.js', 'src/config/cluster.schema.json', 'src/scenario/scenario.schema.json', 'scenarios/truncate-race.json']) {
      t.ok(files.has(f), `ships ${f}`)
    }
    const unwanted = inst.files.filter((f) => /^(test|\.ci|\.tap|coverage|runs)\//.test(f) || /\.ts$/.test(f) && !f.endsWith('.d.ts') || f.endsWith('.map') || /^src\/.*\.(ts|mjs|js)$/.test(f) || /^tsconfig|eslint|dependency-cruiser/.test(f))
    t.same(unwanted, [], 'no tests, TypeScript sources, source maps, CI or tool configs')
    const pj = JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8'))
    t.same(pj.exports, { '.': { types: './dist/src/index.d.ts', import: './dist/src/index.js' } }, 'exports: the library entry, with its types')
    t.equal(pj.bin['rdma-emu'], 'nodes/rdma-emu.js', 'bin: the CLI')
  })

  t.test('installed with production dependencies only: no TypeScript loader to load', async (t) => {
    for (const dev of ['tsx', 'esbuild', 'typescript', '@esbuild']) t.notOk(existsSync(join(app, 'node_modules', dev)), `${dev} is not installed`)
    const probe = await run(process.execPath, ['--input-type=module', '-e', "import('tsx').then(() => console.log('loaded'), (e) => console.log(e.code))"], { cwd: pkg, env, timeoutMs: 10000 })
    t.equal(probe.stdout.trim(), 'ERR_MODULE_NOT_FOUND', 'tsx cannot be imported from the package')
    t.notOk(existsSync(join(pkg, 'dist/src/workers/bootstrap.mjs')), 'no tsx bootstrap for the workers in the build')
    const loaders = jsFiles(pkg).filter((f) => /\bfrom ['"]tsx|import\(['"]tsx|['"]tsx\/esm/.test(readFileSync(f, 'utf8')))
    t.same(loaders, [], 'no shipped JavaScript file imports tsx')
  })

  t.test('a TypeScript program outside the checkout: type-checked against the shipped types, compiled, run: WRITE, READ, FETCH_ADD on its own cluster', async (t) => {
    const progRun = join(app, 'program-run')
    let nodePids: number[] = []
    reapAfter(t, progRun, () => nodePids)
    writeFileSync(join(app, 'user.ts'), USER_PROGRAM)
    writeFileSync(join(app, 'wrong.ts'), "import { launchCluster } from 'rdma-emu'\nexport const n: number = launchCluster\n")
    // One tsc run over both files, emitting (tsc emits despite wrong.ts's error): the checkout's
    // tsc (the user's project would have its own), @types/node from the checkout too. A Node
    // program's libs (no DOM), and TypeScript's own lib files not re-checked: that halves the
    // time; the shipped .d.ts, and what they import, are checked.
    const tsc = await run(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '--strict', '--target', 'es2022', '--lib', 'es2022', '--skipDefaultLibCheck', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--typeRoots', join(ROOT, 'node_modules/@types'), '--types', 'node', '--listFiles', '--outDir', 'out', 'user.ts', 'wrong.ts'], { cwd: app, env, timeoutMs: 60000 })
    const errors = tsc.stdout.split('\n').filter((l) => /error TS\d+/.test(l))
    t.same(errors.filter((l) => !l.startsWith('wrong.ts')), [], `tsc accepts the program, the shipped .d.ts checked too\n${tsc.stdout}`)
    t.ok(errors.some((l) => l.startsWith('wrong.ts') && l.includes('TS2322')), `tsc rejects a wrong use: the types are real, not any\n${tsc.stdout}`)
    t.ok(tsc.stdout.split('\n').includes(join(pkg, 'dist/src/index.d.ts')), "'rdma-emu' resolves to the installed package's types")

    // Compiled JavaScript, run by plain node in the user's project: production dependencies only, no loader.
    const started = Date.now()
    const prog = await run(process.execPath, [join('out', 'user.js'), progRun], { cwd: app, env, timeoutMs: 30000 })
    t.comment(`the program ran in ${Date.now() - started} ms`)
    t.equal(prog.code, 0, `the program exits 0 by itself, its cluster stopped\n${prog.stdout}\n${prog.stderr}`)
    const line = prog.stdout.split('\n').find((l) => l.startsWith('{'))
    t.ok(line, `the program prints its result\n${prog.stdout}\n${prog.stderr}`)
    const out = JSON.parse(line ?? '{}') as { nodes?: number[]; read?: string; fetched?: string[]; final?: string }
    nodePids = out.nodes ?? []
    t.comment(`the program printed: ${line}`)
    t.equal(out.read, Buffer.from(pattern(64)).toString('hex'), 'the READ brought back the bytes the WRITE put in server memory')
    t.same(out.fetched, ['100', '105'], 'each FETCH_ADD returned the value before it')
    t.equal(out.final, '112', 'the server word is 100 + 5 + 7')
    t.equal(nodePids.length, 1, 'the program launched one node process')
    t.same(await waitGone(nodePids, 10000), [], 'the node process is gone (by PID)')
    t.same(pidsMatching(progRun), [], "no process of the program's run remains")
  })

  t.test('the installed CLI: --help and validate', async (t) => {
    const help = await run(bin, ['--help'], { cwd: app, env, timeoutMs: 15000 })
    t.equal(help.code, 0, '--help exits 0')
    t.match(help.stdout, /Usage: rdma-emu/, '--help prints the usage')
    copyFileSync(join(pkg, 'cluster.config.json'), join(app, 'cluster.config.json'))
    const valid = await run(bin, ['validate'], { cwd: app, env, timeoutMs: 15000 })
    t.equal(valid.code, 0, `validate exits 0 on the shipped default config\n${valid.stderr}`)
    t.match(valid.stdout, /valid, 3 nodes/, 'validate reads the shipped schema')
  })

  t.test('up, bench on the worker data path, stats: every process runs the compiled CLI', async (t) => {
    const up = spawn(bin, ['up', '--json', '--run-dir', runDir], { cwd: app, env, stdio: ['ignore', 'pipe', 'pipe'] })
    let nodes: UpNode[] = []
    reapAfter(t, runDir, () => [up.pid!, ...nodes.map((n) => n.pid)])
    let stdout = ''
    let stderr = ''
    up.stderr.on('data', (d) => (stderr += d))
    const exited = new Promise<number | null>((r) => up.on('exit', (code) => r(code)))
    nodes = await new Promise<UpNode[]>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`cluster not up within 30 s\n${stdout}\n${stderr}`)), 30000)
      up.stdout.on('data', (d) => {
        stdout += d
        const line = stdout.split('\n').find((l) => l.includes('"event":"up"'))
        if (line) {
          clearTimeout(timer)
          resolve(JSON.parse(line).nodes)
        }
      })
      void exited.then((code) => {
        clearTimeout(timer)
        reject(new Error(`up exited early (${code})\n${stdout}\n${stderr}`))
      })
    })
    t.equal(nodes.length, 3, 'the default cluster is up: three node processes')

    const entry = join(pkg, 'nodes', 'rdma-emu.js')
    for (const n of nodes) {
      const argv = cmdline(n.pid)
      // The script is the first argument after node's own flags (the launcher's V8 flags, Params.nodeV8Flags).
      t.equal(argv.slice(1).find((a) => !a.startsWith('-')), entry, `${n.id} runs the installed CLI`)
      t.same(argv.filter((a) => LOADER_FLAG.test(a)), [], `${n.id}: no loader flag on its command line`)
      const opts = environ(n.pid).get('NODE_OPTIONS') ?? ''
      t.notMatch(opts, TS_LOADER, `${n.id}: no TypeScript loader in NODE_OPTIONS (${opts || 'unset'})`)
    }

    const bench = await run(bin, ['bench', 'write_bw', '-n', '200', '--datapath', 'workers', '--attach', runDir, '--json'], { cwd: app, env, timeoutMs: 30000 })
    t.equal(bench.code, 0, `bench exits 0\n${bench.stderr}`)
    t.ok(JSON.parse(bench.stdout).rdma_emu.dataCheck.ok, 'the data written through the workers checks out')
    const stats = await run(bin, ['stats', '--run-dir', runDir, '--json'], { cwd: app, env, timeoutMs: 15000 })
    t.equal(stats.code, 0, `stats exits 0\n${stats.stderr}`)
    const server = (JSON.parse(stats.stdout) as Array<{ id: string; dataPath?: { workers: number; tasks: number } }>).find((s) => s.id === 'server0')
    t.ok(server?.dataPath && server.dataPath.workers > 0 && server.dataPath.tasks > 0, `the server's worker threads ran data-path tasks (${JSON.stringify(server?.dataPath)})`)

    up.kill('SIGTERM')
    t.equal(await exited, 0, 'up exits 0 on SIGTERM')
    t.same(await waitGone(nodes.map((n) => n.pid), 10000), [], 'no node process remains (by PID)')
    t.same(pidsMatching(runDir), [], 'no process of the run remains')
  })
})

t.test('build - every dependency install script is approved or denied in package.json', async (t) => {
  const ls = await run('npm', ['install-scripts', 'ls'], { cwd: ROOT, env: userEnv(), timeoutMs: 30000 })
  t.equal(ls.code, 0, `npm install-scripts ls exits 0\n${ls.stderr}`)
  t.match(ls.stdout, /No packages with unreviewed install scripts/, `nothing left unreviewed: a clean install prints no install-script warning\n${ls.stdout}`)
})
