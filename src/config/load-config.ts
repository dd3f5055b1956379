/**
 * Read, validate and complete a cluster configuration.
 *
 * Validation is the published JSON Schema (cluster.schema.json, checked by
 * ajv with allErrors) plus the rules a schema cannot express (duplicate ids,
 * the address rules of address-rules.ts, settings that belong to another role or
 * transport, cross-field limits). Every problem becomes one line naming the
 * exact path and what was expected, e.g.
 *   nodes[1].port: expected integer 0-65535, got "x"
 * and all of them are thrown together as EmuError(CONFIG_INVALID).
 */
import { readFileSync, statSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { Ajv2020 } from 'ajv/dist/2020.js'
import { EmuError, ErrorCodes } from '../errors.ts'
import { packagePath } from '../package-root.ts'
import { addressProblems } from './address-rules.ts'
import { applyDefaults, programPath, type ClusterConfig } from './defaults.ts'
import { locateJsonError } from './json-error.ts'
import { metricsProblems } from './metrics-config.ts'
import { schemaProblems } from './schema-errors.ts'
import { securityProblems } from './security.ts'

export const DEFAULT_CONFIG_PATH = 'cluster.config.json'
/** The schema stays in src/ (the package ships it there, for the configs' `$schema`); the build reads it too. */
export const SCHEMA_PATH = packagePath('src/config/cluster.schema.json')

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON documents (schemas, parsed output) are untyped until checked
type Schema = Record<string, any>

const schema: Schema = JSON.parse(readFileSync(SCHEMA_PATH, 'utf8'))
const ajv = new Ajv2020({ allErrors: true, verbose: true, strict: true })
const validateSchema = ajv.compile(schema)

/** Read and validate a configuration file. Throws EmuError(CONFIG_INVALID). */
export function loadConfig(file: string = DEFAULT_CONFIG_PATH): ClusterConfig {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    const why = code === 'ENOENT' ? 'file not found' : code === 'EISDIR' ? 'is a directory, expected a JSON file' : `cannot read: ${(err as Error).message}`
    throw invalid([`${file}: ${why}`])
  }
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch (err) {
    const at = locateJsonError(text)
    throw invalid([
      at ? `${file}: invalid JSON at line ${at.line} column ${at.column}: ${at.reason}` : `${file}: invalid JSON: ${(err as Error).message}`,
    ])
  }
  // Programs named relative to the configuration resolve against its directory.
  return parseConfig(raw, file, { baseDir: dirname(resolve(file)) })
}

export interface ParseOptions {
  /** Directory relative `program` paths resolve against (default: the current directory). */
  baseDir?: string
}

/** Validate an in-memory raw configuration and fill its defaults. */
export function parseConfig(raw: unknown, label = 'config', opts: ParseOptions = {}): ClusterConfig {
  const problems = configProblems(raw, label, opts)
  if (problems.length > 0) throw invalid(problems)
  return applyDefaults(raw, opts)
}

/** Every problem of a raw configuration, one line each (empty when valid). */
export function configProblems(raw: unknown, label = 'config', opts: ParseOptions = {}): string[] {
  const lines: string[] = []
  if (!validateSchema(raw)) lines.push(...schemaProblems(validateSchema.errors ?? [], label, resolveRef))
  lines.push(...semanticProblems(raw, opts.baseDir ?? process.cwd()))
  return [...new Set(lines)]
}

/**
 * Why a node's program cannot run, or undefined when its file is there: a
 * missing program is bad input, found before any process starts.
 */
export function programProblem(program: string, baseDir: string): string | undefined {
  const file = programPath(program, baseDir)
  try {
    if (!statSync(file).isFile()) return `expected a JavaScript file, got a directory: ${file}`
  } catch {
    return `program file not found: ${file}`
  }
  return undefined
}

function invalid(lines: string[]): EmuError {
  // The problems that have a code of their own (the address rules) end with it: [ERR_...].
  const codes = lines.flatMap((l) => /\[(ERR_[A-Z_]+)\]$/.exec(l)?.[1] ?? [])
  return new EmuError(ErrorCodes.CONFIG_INVALID, lines.join('\n'), { problems: lines, codes })
}

/** The configuration schema's own `#/$defs/...` references. */
function resolveRef(ref: string): Schema | undefined {
  return ref.startsWith('#/$defs/') ? schema.$defs[ref.slice(8)] : undefined
}

// ---------------------------------------------------------------- semantic rules

function semanticProblems(raw: unknown, baseDir: string): string[] {
  const lines: string[] = []
  if (!isObject(raw)) return lines
  const fabric = isObject(raw.fabric) ? raw.fabric : {}
  const interval = fabric.heartbeatIntervalMs
  const timeout = fabric.heartbeatTimeoutMs
  if (typeof timeout === 'number') {
    const iv = typeof interval === 'number' ? interval : undefined
    // Compare with the default interval when only the timeout is set.
    const effective = iv ?? applyDefaults({ nodes: [] }).fabric.heartbeatIntervalMs
    if (timeout <= effective) lines.push(`fabric.heartbeatTimeoutMs: expected more than heartbeatIntervalMs (${effective}), got ${timeout}`)
  }
  lines.push(...metricsProblems(raw))
  lines.push(...securityProblems(raw, baseDir))
  if (!Array.isArray(raw.nodes)) return lines
  // bind, advertise and their endpoints (address-rules.ts), each line with its code.
  lines.push(...addressProblems(raw.nodes).map((p) => p.line))
  const ids = new Map<string, number>()
  const ipc = new Map<string, number>()
  raw.nodes.forEach((node: unknown, i: number) => {
    if (!isObject(node)) return
    const at = `nodes[${i}]`
    if (typeof node.id === 'string') {
      const first = ids.get(node.id)
      if (first !== undefined) lines.push(`${at}.id: duplicate id ${JSON.stringify(node.id)} (also nodes[${first}].id)`)
      else ids.set(node.id, i)
    }
    if (node.role === 'client' && node.server !== undefined) lines.push(`${at}.server: only allowed when role is "server"`)
    if (node.args !== undefined && node.program === undefined) lines.push(`${at}.args: only allowed with "program"`)
    if (typeof node.program === 'string' && node.program !== '') {
      const why = programProblem(node.program, baseDir)
      if (why) lines.push(`${at}.program: ${why} (node ${typeof node.id === 'string' ? node.id : `#${i}`})`)
    }
    const transport = node.transport ?? 'tcp'
    if (transport === 'tcp') {
      if (node.path !== undefined) lines.push(`${at}.path: only allowed when transport is "ipc"`)
    } else if (transport === 'ipc') {
      for (const k of ['host', 'bind', 'advertise', 'port']) if (node[k] !== undefined) lines.push(`${at}.${k}: only allowed when transport is "tcp"`)
      const path = typeof node.path === 'string' ? node.path : typeof node.id === 'string' ? `${node.id}.sock` : undefined
      if (path !== undefined) {
        const first = ipc.get(path)
        if (first !== undefined) lines.push(`${at}.path: duplicate ipc path ${JSON.stringify(path)} (also nodes[${first}].path)`)
        else ipc.set(path, i)
      }
    }
    if (isObject(node.server)) {
      const { deviceBytes, pageSize } = node.server
      const ps = typeof pageSize === 'number' ? pageSize : 4096
      if (typeof deviceBytes === 'number' && Number.isInteger(deviceBytes) && deviceBytes % ps !== 0) {
        lines.push(`${at}.server.deviceBytes: expected a multiple of pageSize (${ps}), got ${deviceBytes}`)
      }
    }
  })
  return lines
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON documents (schemas, parsed output) are untyped until checked
function isObject(v: unknown): v is Record<string, any> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}
