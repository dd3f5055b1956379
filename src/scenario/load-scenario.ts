/**
 * Read, validate and complete a scenario file.
 *
 * Validation is the published JSON Schema (scenario.schema.json, ajv with
 * allErrors, the cluster schema loaded beside it for the overrides) plus what
 * a schema cannot know: node ids that must exist in the configuration with
 * the right role, files that an earlier step must have created, MR and
 * traffic names that must be defined before use, sizes that must fit the MR,
 * expectations that must name a policy of the scenario and compare a metric
 * with a value of its type. Every problem is one line naming its path; all
 * of them are thrown together as EmuError(SCENARIO_INVALID) (exit 2).
 */
import { readFileSync } from 'node:fs'
import { resolve as resolvePath } from 'node:path'
import { Ajv2020 } from 'ajv/dist/2020.js'
import { LEASE_POLICIES, POLICIES, type ClusterConfig, type Policy } from '../config/defaults.ts'
import { locateJsonError } from '../config/json-error.ts'
import { SCHEMA_PATH as CLUSTER_SCHEMA_PATH } from '../config/load-config.ts'
import { EmuError, ErrorCodes } from '../errors.ts'
import { packagePath } from '../package-root.ts'
import { METRICS, type MetricDef } from './metrics.ts'
import { schemaProblems } from '../config/schema-errors.ts'
import { completeFaultStep, type FaultStepContext } from './load-fault-steps.ts'
import type { AccessName, Expectation, Scenario, Step } from './types.ts'

/** Read from src/ by the build too (the package ships it there, for the scenarios' `$schema`). */
export const SCENARIO_SCHEMA_PATH = packagePath('src/scenario/scenario.schema.json')
/** The fault steps' schema, which the scenario schema refers to. */
export const FAULT_STEPS_SCHEMA_PATH = packagePath('src/scenario/fault-steps.schema.json')

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON documents (schemas, parsed output) are untyped until checked
type Schema = Record<string, any>

const scenarioSchema: Schema = JSON.parse(readFileSync(SCENARIO_SCHEMA_PATH, 'utf8'))
const clusterSchema: Schema = JSON.parse(readFileSync(CLUSTER_SCHEMA_PATH, 'utf8'))
const faultStepsSchema: Schema = JSON.parse(readFileSync(FAULT_STEPS_SCHEMA_PATH, 'utf8'))
// strictRequired off: the fault steps say "at least one of these" with anyOf of required lists.
const ajv = new Ajv2020({ allErrors: true, verbose: true, strict: true, strictRequired: false, allowUnionTypes: true })
ajv.addSchema(clusterSchema)
ajv.addSchema(faultStepsSchema)
const validateSchema = ajv.compile(scenarioSchema)
const schemasById = new Map<string, Schema>([[scenarioSchema.$id, scenarioSchema], [clusterSchema.$id, clusterSchema], [faultStepsSchema.$id, faultStepsSchema]])

/** `$ref` (relative to the scenario schema) to the schema it names. */
function resolveRef(ref: string): Schema | undefined {
  const url = new URL(ref, scenarioSchema.$id)
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON documents (schemas, parsed output) are untyped until checked
  let node: any = schemasById.get(url.href.replace(/#.*$/, ''))
  for (const seg of url.hash.replace(/^#\/?/, '').split('/').filter(Boolean)) node = node?.[decodeURIComponent(seg).replace(/~1/g, '/').replace(/~0/g, '~')]
  return node
}

export const DEFAULT_ACCESS: AccessName[] = ['localWrite', 'remoteWrite', 'remoteRead']
export const DEFAULT_LAYOUT_TIMEOUT_MS = 10_000

/** Read and validate a scenario file against the configuration it will run on. */
export function loadScenario(file: string, config: ClusterConfig): Scenario {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    const why = code === 'ENOENT' ? 'file not found' : code === 'EISDIR' ? 'is a directory, expected a JSON file' : `cannot read: ${(err as Error).message}`
    throw invalid(file, [`${file}: ${why}`])
  }
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch (err) {
    const at = locateJsonError(text)
    throw invalid(file, [at ? `${file}: invalid JSON at line ${at.line} column ${at.column}: ${at.reason}` : `${file}: invalid JSON: ${(err as Error).message}`])
  }
  return parseScenario(raw, config, file)
}

/** Validate an in-memory scenario and fill its defaults. */
export function parseScenario(raw: unknown, config: ClusterConfig, file = 'scenario'): Scenario {
  if (!validateSchema(raw)) throw invalid(file, schemaProblems(validateSchema.errors ?? [], file, resolveRef))
  const r = raw as Schema
  const problems: string[] = []
  const scenario = complete(r, config, file, problems)
  if (problems.length > 0) throw invalid(file, [...new Set(problems)])
  return scenario
}

function invalid(file: string, lines: string[]): EmuError {
  return new EmuError(ErrorCodes.SCENARIO_INVALID, lines.join('\n'), { file, problems: lines })
}

/** Defaults and cross-references (the schema has passed). Problems go to `problems`. */
function complete(r: Schema, config: ClusterConfig, file: string, problems: string[]): Scenario {
  const firstServer = config.nodes.find((n) => n.role === 'server')
  const firstClient = config.nodes.find((n) => n.role === 'client')
  const roleOf = new Map(config.nodes.map((n) => [n.id, n.role]))
  const used = new Set<string>()
  const node = (at: string, id: string | undefined, role: 'server' | 'client' | 'any'): string => {
    const chosen = id ?? (role === 'server' ? firstServer : firstClient)?.id
    if (chosen === undefined) {
      problems.push(`${at}: the configuration has no ${role} node`)
      return ''
    }
    const has = roleOf.get(chosen)
    if (has === undefined) problems.push(`${at}: unknown node id ${JSON.stringify(chosen)}, expected ${role === 'any' ? 'a node' : `a ${role} node`} of the configuration (${idsOf(config, role)})`)
    else if (role !== 'any' && has !== role) problems.push(`${at}: node ${JSON.stringify(chosen)} is a ${has} node, expected a ${role} node (${idsOf(config, role)})`)
    else used.add(chosen)
    return chosen
  }
  const faultCtx: FaultStepContext = { config, problems, node, faultIds: new Map() }

  const cluster = r.cluster ?? {}
  if (cluster.server?.policy !== undefined) problems.push('cluster.server.policy: not allowed here, expected the policies to run under in "policies"')
  const policies: Policy[] = r.policies ?? (firstServer?.role === 'server' ? [firstServer.server.policy] : [POLICIES[0]])

  // Files per server (created, not yet unlinked), MRs and traffic by name, as the steps go.
  const files = new Map<string, Map<string, number>>()
  const filesOf = (server: string) => files.get(server) ?? files.set(server, new Map()).get(server)!
  const mrs = new Map<string, { at: number; server: string; bytes?: number; deregisteredAt?: number }>()
  const traffic = new Map<string, { at: number; background: boolean }>()
  const kinds = new Set<string>()
  const needFile = (at: string, server: string, name: string): void => {
    // A bad node id is one problem, not two.
    if (!used.has(server)) return
    if (!filesOf(server).has(name)) problems.push(`${at}: no earlier createFile step makes ${JSON.stringify(name)} on ${server}`)
  }
  const needMr = (at: string, name: string): { server: string; bytes?: number } | undefined => {
    const m = mrs.get(name)
    if (!m) problems.push(`${at}: no earlier registerFile / registerMemory step names an MR ${JSON.stringify(name)}`)
    else if (m.deregisteredAt !== undefined) problems.push(`${at}: MR ${JSON.stringify(name)} was deregistered by steps[${m.deregisteredAt}]`)
    return m
  }

  const defineMr = (where: string, name: string, m: { at: number; server: string; bytes?: number }): void => {
    const had = mrs.get(name)
    if (had) problems.push(`${where}: ${JSON.stringify(name)} already names the MR of steps[${had.at}]`)
    mrs.set(name, m)
  }

  const steps: Step[] = (r.steps as Schema[]).map((s, i): Step => {
    const at = `steps[${i}]`
    kinds.add(s.do)
    const base = { ...(s.when ? { when: s.when as Policy[] } : {}), ...(s.note ? { note: s.note as string } : {}), ...(s.at !== undefined ? { at: s.at as number } : {}) }
    const fault = completeFaultStep(s, i, base, faultCtx)
    if (fault) return fault
    switch (s.do) {
      case 'createFile': {
        const server = node(`${at}.server`, s.server, 'server')
        const made = filesOf(server).get(s.file)
        if (made !== undefined) problems.push(`${at}.file: ${JSON.stringify(s.file)} is already made by steps[${made}] (unlink it first)`)
        filesOf(server).set(s.file, i)
        return { ...base, do: 'createFile', server, file: s.file, bytes: s.bytes, fill: s.fill ?? 0, dax: s.dax ?? true }
      }
      case 'writeFile': {
        const server = node(`${at}.server`, s.server, 'server')
        needFile(`${at}.file`, server, s.file)
        return { ...base, do: 'writeFile', server, file: s.file, offset: s.offset ?? 0, bytes: s.bytes, fill: s.fill ?? 0 }
      }
      case 'truncate':
      case 'punch':
      case 'unlink': {
        const server = node(`${at}.server`, s.server, 'server')
        needFile(`${at}.file`, server, s.file)
        const timeoutMs = s.timeoutMs ?? DEFAULT_LAYOUT_TIMEOUT_MS
        if (s.do === 'truncate') return { ...base, do: 'truncate', server, file: s.file, size: s.size, timeoutMs }
        if (s.do === 'punch') return { ...base, do: 'punch', server, file: s.file, offset: s.offset, length: s.length, timeoutMs }
        filesOf(server).delete(s.file)
        return { ...base, do: 'unlink', server, file: s.file, timeoutMs }
      }
      case 'lease':
      case 'unlease': {
        const client = node(`${at}.client`, s.client, 'client')
        const server = node(`${at}.server`, s.server, 'server')
        needFile(`${at}.file`, server, s.file)
        const others = effective(policies, s.when).filter((p) => !LEASE_POLICIES.includes(p))
        if (others.length > 0) problems.push(`${at}: ${s.do} needs policy ${LEASE_POLICIES.join(' or ')}, but would also run under ${others.join(', ')}: add "when": [${LEASE_POLICIES.map((p) => `"${p}"`).join(', ')}]`)
        return { ...base, do: s.do, client, server, file: s.file }
      }
      case 'leaseMode':
        return { ...base, do: 'leaseMode', client: node(`${at}.client`, s.client, 'client'), mode: s.mode }
      case 'registerFile': {
        const client = node(`${at}.client`, s.client, 'client')
        const server = node(`${at}.server`, s.server, 'server')
        needFile(`${at}.file`, server, s.file)
        defineMr(`${at}.as`, s.as, { at: i, server, bytes: s.bytes })
        return { ...base, do: 'registerFile', as: s.as, client, server, file: s.file, offset: s.offset ?? 0, ...(s.bytes !== undefined ? { bytes: s.bytes } : {}), access: s.access ?? DEFAULT_ACCESS, odp: s.odp ?? false, fallback: s.fallback ?? 'none', mapping: s.mapping ?? 'shared' }
      }
      case 'registerMemory': {
        const server = node(`${at}.server`, s.server, 'server')
        defineMr(`${at}.as`, s.as, { at: i, server, bytes: s.bytes })
        // rxe_mr_fill_pages_from_sgt: FLUSH_PERSISTENT over pages that are not persistent memory is EINVAL (ODP pins none and is not checked).
        if (s.access?.includes('flushPersistent') && s.odp !== true) problems.push(`${at}.access: flushPersistent needs persistent memory, and anonymous memory is not (the registration would fail with EINVAL, as rxe's): register a range of a DAX file (registerFile), or ask for flushGlobal only`)
        return { ...base, do: 'registerMemory', as: s.as, server, bytes: s.bytes, fill: s.fill ?? 0, access: s.access ?? DEFAULT_ACCESS, odp: s.odp ?? false }
      }
      case 'deregister': {
        const m = needMr(`${at}.mr`, s.mr)
        if (m) mrs.get(s.mr)!.deregisteredAt = i
        return { ...base, do: 'deregister', mr: s.mr }
      }
      case 'traffic': {
        const client = node(`${at}.client`, s.client, 'client')
        const m = needMr(`${at}.mr`, s.mr)
        if (traffic.has(s.id)) problems.push(`${at}.id: ${JSON.stringify(s.id)} is already the id of steps[${traffic.get(s.id)!.at}]`)
        traffic.set(s.id, { at: i, background: s.background === true })
        if (s.count === undefined && s.durationMs === undefined) problems.push(`${at}: missing count or durationMs, expected how many operations or for how long (ms)`)
        const offset = s.offset ?? 0
        if (s.span !== undefined && s.size > s.span) problems.push(`${at}.size: ${s.size} bytes per operation do not fit the ${s.span}-byte span`)
        if (m?.bytes !== undefined) {
          const span = s.span ?? m.bytes - offset
          if (offset + Math.max(span, s.size) > m.bytes) problems.push(`${at}: offset ${offset} + ${s.span !== undefined ? `span ${span}` : `size ${s.size}`} is past the end of MR ${JSON.stringify(s.mr)} (${m.bytes} bytes)`)
        }
        const checked = s.checked ?? (s.op !== 'write' && s.op !== 'read')
        if (checked && s.size % 8 !== 0) problems.push(`${at}.size: a checked stream writes 8-byte words: expected a multiple of 8, got ${s.size}`)
        if (s.op === 'mixed' && !s.mix) problems.push(`${at}: op "mixed" needs mix, expected the weights of write, read, fetchAdd and cmpSwap`)
        if (s.op !== 'mixed' && s.mix) problems.push(`${at}.mix: only for op "mixed", got op ${JSON.stringify(s.op)}`)
        if (s.flushEvery !== undefined && !checked) problems.push(`${at}.flushEvery: only for a checked stream (set checked)`)
        if (s.atomicOffset !== undefined && s.atomicOffset % 8 !== 0) problems.push(`${at}.atomicOffset: expected a multiple of 8, got ${s.atomicOffset}`)
        const atomicWords = s.atomicWords ?? 8
        const fa = s.op === 'fetchAdd' || (s.op === 'mixed' && (s.mix?.fetchAdd ?? 0) > 0)
        const cas = s.op === 'cmpSwap' || (s.op === 'mixed' && (s.mix?.cmpSwap ?? 0) > 0)
        if ((fa || cas) && s.span === undefined && s.atomicOffset === undefined) problems.push(`${at}: a stream with atomics needs span or atomicOffset, expected where the atomics' words go (after the span by default)`)
        if (m?.bytes !== undefined && (fa || cas)) {
          // FETCH_ADD words, then CMP_SWAP words after them when the stream has both.
          const aOff = s.atomicOffset ?? offset + (s.span ?? 0)
          const words = atomicWords * (fa && cas ? 2 : 1)
          if (aOff + words * 8 > m.bytes) problems.push(`${at}: the atomics' ${words} words at offset ${aOff} are past the end of MR ${JSON.stringify(s.mr)} (${m.bytes} bytes): set span, atomicOffset or atomicWords`)
        }
        if (s.checked === false && s.op !== 'write' && s.op !== 'read') problems.push(`${at}.checked: a ${s.op} stream is always checked`)
        return {
          ...base, do: 'traffic', id: s.id, client, mr: s.mr, op: s.op, size: s.size, window: s.window ?? 4,
          ...(s.count !== undefined ? { count: s.count } : {}), ...(s.durationMs !== undefined ? { durationMs: s.durationMs } : {}),
          offset, ...(s.span !== undefined ? { span: s.span } : {}), background: s.background === true, ...(s.qp ? { qp: s.qp } : {}),
          checked, ...(s.mix ? { mix: s.mix } : {}), ...(s.atomicOffset !== undefined ? { atomicOffset: s.atomicOffset } : {}), atomicWords,
          ...(s.flushEvery !== undefined ? { flushEvery: s.flushEvery } : {}), reconnect: s.reconnect === true, ...(s.seed !== undefined ? { seed: s.seed } : {}),
        }
      }
      case 'wait':
      case 'stop': {
        if (s.traffic !== undefined) {
          const t = traffic.get(s.traffic)
          if (!t) problems.push(`${at}.traffic: no earlier traffic step has the id ${JSON.stringify(s.traffic)}`)
          else if (s.do === 'stop' && !t.background) problems.push(`${at}.traffic: steps[${t.at}] is not a background traffic step (it has finished before this step runs)`)
        }
        return s.do === 'stop' ? { ...base, do: 'stop', traffic: s.traffic } : { ...base, do: 'wait', ...(s.traffic !== undefined ? { traffic: s.traffic } : {}) }
      }
      case 'sleep':
        return { ...base, do: 'sleep', ms: s.ms }
      case 'faults': {
        const nodes = s.nodes?.map((id: string, k: number) => {
          if (!roleOf.has(id)) problems.push(`${at}.nodes[${k}]: unknown node id ${JSON.stringify(id)}, expected one of ${config.nodes.map((n) => n.id).join(', ')}`)
          used.add(id)
          return id
        })
        return { ...base, do: 'faults', ...(nodes ? { nodes } : {}), drop: s.drop ?? 0, duplicate: s.duplicate ?? 0, reorder: s.reorder ?? 0, seed: s.seed ?? 1 }
      }
      case 'verify': {
        if ((s.file === undefined) === (s.mr === undefined)) problems.push(`${at}: expected exactly one of file or mr`)
        let server: string
        if (s.mr !== undefined) {
          const m = needMr(`${at}.mr`, s.mr)
          server = m?.server ?? node(`${at}.server`, s.server, 'server')
          if (s.server !== undefined && m && s.server !== m.server) problems.push(`${at}.server: MR ${JSON.stringify(s.mr)} is on ${m.server}, not ${s.server}`)
        } else {
          server = node(`${at}.server`, s.server, 'server')
          if (s.file !== undefined) needFile(`${at}.file`, server, s.file)
        }
        return { ...base, do: 'verify', server, ...(s.file !== undefined ? { file: s.file } : {}), ...(s.mr !== undefined ? { mr: s.mr } : {}), offset: s.offset ?? 0, ...(s.length !== undefined ? { length: s.length } : {}), fill: s.fill }
      }
      default:
        // The schema's enum makes this unreachable.
        problems.push(`${at}.do: unknown step kind ${JSON.stringify(s.do)}`)
        return { ...base, do: 'sleep', ms: 0 }
    }

  })

  const expect: Expectation[] = ((r.expect ?? []) as Schema[]).map((e, i): Expectation => {
    const at = `expect[${i}]`
    const named: Policy[] | '*' = e.policy === '*' ? '*' : Array.isArray(e.policy) ? e.policy : [e.policy]
    if (named !== '*') {
      const missing = named.filter((p) => !policies.includes(p))
      if (missing.length) problems.push(`${at}.policy: ${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} not among the scenario's policies (${policies.join(', ')})`)
    }
    const def: MetricDef = METRICS[e.metric as keyof typeof METRICS]
    if (def.type === 'string' && e.op !== '==' && e.op !== '!=') problems.push(`${at}.op: ${e.metric} is a string: expected == or !=, got ${JSON.stringify(e.op)}`)
    if (typeof e.value !== def.type) problems.push(`${at}.value: ${e.metric} is a ${def.type}, got ${JSON.stringify(e.value)}`)
    if (def.needs && !kinds.has(def.needs)) problems.push(`${at}.metric: ${e.metric} is only measured by a ${def.needs} step, and the scenario has none`)
    return { policies: named, metric: e.metric, op: e.op, value: e.value, ...(e.why ? { why: e.why } : {}) }
  })

  return {
    name: r.name,
    ...(r.description ? { description: r.description } : {}),
    file: file === 'scenario' ? file : resolvePath(file),
    cluster,
    policies,
    steps,
    expect,
    nodes: config.nodes.map((n) => n.id).filter((id) => used.has(id)),
    seed: r.seed ?? 1,
    checks: { permitCorruption: r.checks?.permitCorruption ?? ['unsafe-gup'], allowErrors: r.checks?.allowErrors ?? [] },
    report: { intervalMs: r.report?.intervalMs ?? 50 },
  }
}

/** The policies a step runs under. */
function effective(policies: readonly Policy[], when: readonly Policy[] | undefined): Policy[] {
  return when ? policies.filter((p) => when.includes(p)) : [...policies]
}

function idsOf(config: ClusterConfig, role: 'server' | 'client' | 'any'): string {
  const ids = config.nodes.filter((n) => role === 'any' || n.role === role).map((n) => n.id)
  return ids.length ? ids.join(', ') : `none`
}
