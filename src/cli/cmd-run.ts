/**
 * rdma-emu run SCENARIO: run a scenario file (src/scenario/) once per policy
 * it lists, each on a cluster of its own, print one table comparing the
 * runs (or --json), and check its expectations. With --attach, once on a
 * running cluster, under its servers' policy (src/scenario/run-attached.ts).
 *
 * Exit codes: 0 every expectation held, 1 one broke or a run had a problem
 * (a step failed, pins did not balance, a node died), 2 bad input (the
 * scenario, the configuration, an option).
 */
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs'
import { basename, join, resolve } from 'node:path'
import type { Command } from 'commander'
import { POLICIES, type ClusterConfig, type Policy } from '../config/defaults.ts'
import type { AttachedCluster } from '../launcher/attach-cluster.ts'
import type { Scenario } from '../scenario/types.ts'
import { loadConfig } from '../config/load-config.ts'
import { EmuError, ErrorCodes, ExitCode } from '../errors.ts'
import { defaultRunDir } from '../launcher/run-dir.ts'
import { packagePath } from '../package-root.ts'
import { Params } from '../params.ts'
import { configOption, displayPath, intArg, runDirOption } from './options.ts'

/** Where the shipped scenarios live: `rdma-emu run truncate-race` finds scenarios/truncate-race.json. */
export const SCENARIOS_DIR = packagePath('scenarios/')

interface RunCliOpts {
  config: string
  runDir?: string
  json?: boolean
  policy?: string
  trafficMs?: number
  readyTimeout: number
  seed?: number
  pcap?: string
  report?: string
  attach?: string
}

export function register(program: Command): void {
  program
    .command('run')
    .description('run a scenario (truncates racing RDMA, fault injection ...) under each pin policy it lists, compare them in one table, check its expectations')
    .argument('<scenario>', `scenario file (JSON, see src/scenario/scenario.schema.json), or the name of a shipped one in scenarios/ (${shippedNames().join(', ') || 'none'})`)
    .addOption(configOption())
    .addOption(runDirOption())
    .option('--json', 'print the results as JSON')
    .option('--policy <list>', 'run only these of the scenario\'s policies (comma-separated)')
    .option('--traffic-ms <ms>', 'replace the durationMs of every traffic step (shorter or longer runs)', intArg(1, 3_600_000))
    .option('--seed <n>', "the run's seed: every fault and operation mix without a seed of its own derives its seed from it, so the same seed gives the same fault sequence (default: the scenario's seed, else 1)", intArg(0, 4294967295))
    .option('--pcap <file>', 'capture every data-plane packet to this pcap file (RoCEv2 framing, with the ICRC; one file per policy, named FILE-POLICY.pcap, when the scenario runs several)')
    .option('--report <dir>', 'write the report (timeline.svg, report.html, series.json, history, fault log) of each policy run into DIR/POLICY/ (default: the run directory)')
    .option('--ready-timeout <ms>', 'how long nodes have to report ready', intArg(1), Params.readyTimeoutMs)
    .option('--attach <run-dir|cluster.json>', "run on this running cluster (`up`, or nodes started with `rdma-emu node`) instead of launching one, under its servers' policy; it is left running. Node faults (kill, pause, resume, restart, stopNode) are refused there (exit 2)")
    .action(async (file: string, opts: RunCliOpts) => {
      process.exitCode = await run(file, opts)
    })
}

function shippedNames(): string[] {
  if (!existsSync(SCENARIOS_DIR)) return []
  return readdirSync(SCENARIOS_DIR).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5)).sort()
}

/** A path as given, or a shipped scenario's name. */
export function scenarioPath(arg: string): string {
  if (existsSync(arg)) return arg
  const shipped = join(SCENARIOS_DIR, arg.endsWith('.json') ? basename(arg) : `${arg}.json`)
  if (!arg.includes('/') && existsSync(shipped)) return shipped
  return arg
}

function parsePolicies(list: string | undefined, allowed: readonly Policy[]): Policy[] | undefined {
  if (list === undefined) return undefined
  const names = list.split(',').map((s) => s.trim()).filter(Boolean)
  if (names.length === 0) throw new EmuError(ErrorCodes.BAD_ARGUMENT, '--policy: expected a comma-separated list of policies')
  for (const p of names) {
    if (!(POLICIES as readonly string[]).includes(p)) throw new EmuError(ErrorCodes.BAD_ARGUMENT, `--policy: unknown policy "${p}", expected one of ${POLICIES.join(', ')}`)
    if (!allowed.includes(p as Policy)) throw new EmuError(ErrorCodes.BAD_ARGUMENT, `--policy: "${p}" is not among the scenario's policies (${allowed.join(', ')})`)
  }
  return [...new Set(names)] as Policy[]
}

/** --attach: the cluster joined, its configuration, and the scenario checked against it (node faults refused). */
async function attach(target: string, file: string, opts: RunCliOpts) {
  if (opts.pcap !== undefined) throw new EmuError(ErrorCodes.BAD_ARGUMENT, '--pcap: not with --attach (the attached cluster is already running: start it with `rdma-emu up --pcap FILE`)')
  const { attachCluster, readClusterFile, recordedConfig } = await import('../launcher/attach-cluster.ts')
  const { attachedPolicy, attachedRunConfig, overrideWarnings, refuseNodeFaults } = await import('../scenario/run-attached.ts')
  const { loadScenario } = await import('../scenario/load-scenario.ts')
  const clusterFile = readClusterFile(target)
  const config = attachedRunConfig(clusterFile, recordedConfig(clusterFile))
  const sc = loadScenario(file, config)
  const wanted = parsePolicies(opts.policy, sc.policies)
  refuseNodeFaults(sc)
  for (const w of overrideWarnings(sc)) process.stderr.write(` WARNING: ${w}\n`)
  const cluster = await attachCluster(clusterFile, { name: 'run' })
  try {
    return { cluster, config, sc, policies: [await attachedPolicy(cluster.control, config, sc, wanted)], source: `the attached cluster ${displayPath(clusterFile.file)}` }
  } catch (err) {
    await cluster.close()
    throw err
  }
}

async function run(arg: string, opts: RunCliOpts): Promise<number> {
  const file = scenarioPath(arg)
  const { cluster: attached, config, sc, policies, source } = opts.attach !== undefined ? await attach(opts.attach, file, opts) : await (async () => {
    const config = loadConfig(opts.config)
    const { loadScenario } = await import('../scenario/load-scenario.ts')
    const sc = loadScenario(file, config)
    return { cluster: undefined, config, sc, policies: parsePolicies(opts.policy, sc.policies), source: `nodes from ${opts.config}` }
  })()
  try {
    return await runLoaded(file, opts, config, sc, policies, source, attached)
  } finally {
    await attached?.close()
  }
}

async function runLoaded(file: string, opts: RunCliOpts, config: ClusterConfig, sc: Scenario, policies: Policy[] | undefined, source: string, attached: AttachedCluster | undefined): Promise<number> {
  const { resultsJson, runConfig, runScenario } = await import('../scenario/run-scenario.ts')
  // Every run's configuration is checked before the first cluster starts.
  for (const p of policies ?? sc.policies) runConfig(config, sc, p)
  const { formatFindings, formatRuns } = await import('../scenario/format.ts')

  const runDir = resolve(opts.runDir ?? defaultRunDir())
  mkdirSync(runDir, { recursive: true })
  writeFileSync(join(runDir, 'scenario.json'), JSON.stringify(sc, null, 2) + '\n')
  const out = (line: string) => {
    if (!opts.json) process.stdout.write(line + '\n')
  }
  const abort = new AbortController()
  let interrupted = false
  const onSignal = () => {
    interrupted = true
    abort.abort()
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  try {
    const list = policies ?? sc.policies
    out(`rdma-emu run: ${sc.name} (${displayPath(file)}), ${list.length} polic${list.length === 1 ? 'y' : 'ies'}${attached ? ` (${list.join(', ')}, the servers')` : ''}, ${source}`)
    if (sc.description) out(sc.description)
    let t0 = 0
    const result = await runScenario(sc, {
      config, runDir, policies, ...(attached ? { attached } : {}), trafficMs: opts.trafficMs, readyTimeoutMs: opts.readyTimeout, signal: abort.signal,
      ...(opts.seed !== undefined ? { seed: opts.seed } : {}), ...(opts.pcap ? { pcap: resolve(opts.pcap) } : {}), ...(opts.report ? { reportDir: resolve(opts.report) } : {}),
      onRun: ({ policy, index, of, done }) => {
        if (!done) {
          t0 = Date.now()
          return
        }
        out(`  [${index + 1}/${of}] ${policy}: ${done.problems.length ? 'PROBLEM' : 'done'} in ${((Date.now() - t0) / 1000).toFixed(1)} s`)
      },
    })
    if (opts.json) process.stdout.write(resultsJson(result) + '\n')
    else {
      out('')
      out(formatRuns(sc, result.runs))
      out('')
      for (const line of formatFindings(result, { allExpectations: true })) out(line)
      out(`run directory: ${displayPath(runDir)} (results.json, one directory per policy)`)
    }
    if (!result.ok) {
      const broken = result.runs.flatMap((r) => r.expectations.filter((e) => !e.held))
      const problems = result.runs.flatMap((r) => r.problems.map((p) => `${r.policy}: ${p}`))
      const failedChecks = result.runs.flatMap((r) => r.checks.filter((c) => !c.ok).map((c) => `${r.policy}: ${c.name}: ${c.summary}${c.anomalies[0] ? ` (first: ${c.anomalies[0].kind}: ${c.anomalies[0].message})` : ''}`))
      const { describeExpectation } = await import('../scenario/format.ts')
      process.stderr.write(`rdma-emu: run ${sc.name}: ${[
        ...broken.map((e) => `expectation broke: ${describeExpectation(e)}`),
        ...failedChecks.map((c) => `checker failed: ${c}`),
        ...problems.map((p) => `problem: ${p}`),
      ].join('\nrdma-emu: run ' + sc.name + ': ')}\n`)
      return ExitCode.PROBLEM
    }
    return ExitCode.OK
  } catch (err) {
    if (interrupted) {
      process.stderr.write('rdma-emu: run interrupted\n')
      return ExitCode.PROBLEM
    }
    throw err
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}
