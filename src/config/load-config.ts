/**
 * Read, validate and complete a cluster configuration.
 *
 * Validation is the published JSON Schema (cluster.schema.json, checked by
 * ajv with allErrors) plus the rules a schema cannot express (duplicate ids,
 * duplicate fixed endpoints, settings that belong to another role or
 * transport, cross-field limits). Every problem becomes one line naming the
 * exact path and what was expected, e.g.
 *   nodes[1].port: expected integer 0-65535, got "x"
 * and all of them are thrown together as EmuError(CONFIG_INVALID).
 */
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { Ajv2020, type ErrorObject } from 'ajv/dist/2020.js'
import { EmuError, ErrorCodes } from '../errors.ts'
import { applyDefaults, type ClusterConfig } from './defaults.ts'
import { locateJsonError } from './json-error.ts'

export const DEFAULT_CONFIG_PATH = 'cluster.config.json'
export const SCHEMA_PATH = fileURLToPath(new URL('./cluster.schema.json', import.meta.url))

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
  return parseConfig(raw, file)
}

/** Validate an in-memory raw configuration and fill its defaults. */
export function parseConfig(raw: unknown, label = 'config'): ClusterConfig {
  const problems = configProblems(raw, label)
  if (problems.length > 0) throw invalid(problems)
  return applyDefaults(raw)
}

/** Every problem of a raw configuration, one line each (empty when valid). */
export function configProblems(raw: unknown, label = 'config'): string[] {
  const lines: string[] = []
  if (!validateSchema(raw)) lines.push(...schemaProblems(validateSchema.errors ?? [], label))
  lines.push(...semanticProblems(raw))
  return [...new Set(lines)]
}

function invalid(lines: string[]): EmuError {
  return new EmuError(ErrorCodes.CONFIG_INVALID, lines.join('\n'), { problems: lines })
}

// ---------------------------------------------------------------- schema errors

function schemaProblems(errors: ErrorObject[], label: string): string[] {
  const lines: string[] = []
  const seenPaths = new Set<string>()
  for (const e of errors) {
    const path = toPath(e.instancePath)
    const where = path || label
    switch (e.keyword) {
      case 'required': {
        const prop = (e.params as { missingProperty: string }).missingProperty
        const sub = resolve(e.parentSchema?.properties?.[prop])
        lines.push(`${join(path, prop)}: missing, expected ${describe(sub)}`)
        break
      }
      case 'additionalProperties': {
        const prop = (e.params as { additionalProperty: string }).additionalProperty
        const allowed = Object.keys(e.parentSchema?.properties ?? {}).join(', ')
        lines.push(`${join(path, prop)}: unknown property, expected one of ${allowed}`)
        break
      }
      case 'type': case 'enum': case 'const': case 'minimum': case 'maximum': case 'exclusiveMinimum':
      case 'exclusiveMaximum': case 'minLength': case 'maxLength': case 'pattern': case 'minItems': case 'maxItems':
        // One line per value: an out-of-range integer is one problem, whatever keywords it breaks.
        if (seenPaths.has(where)) break
        seenPaths.add(where)
        lines.push(`${where}: expected ${describe(e.parentSchema as Schema)}, got ${show(e.data)}`)
        break
      default:
        lines.push(`${where}: ${e.message ?? 'invalid'}`)
    }
  }
  return lines
}

/** JSON pointer (/nodes/1/port) to the path users read (nodes[1].port). */
function toPath(pointer: string): string {
  if (!pointer) return ''
  let out = ''
  for (const raw of pointer.slice(1).split('/')) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~')
    out += /^\d+$/.test(seg) ? `[${seg}]` : out ? `.${seg}` : seg
  }
  return out
}

function join(path: string, prop: string): string {
  return path ? `${path}.${prop}` : prop
}

function resolve(sub: Schema | undefined): Schema | undefined {
  if (sub?.$ref && typeof sub.$ref === 'string' && sub.$ref.startsWith('#/$defs/')) return schema.$defs[sub.$ref.slice(8)]
  return sub
}

/** What a schema accepts, in words: "integer 0-65535", "one of client, server". */
function describe(s: Schema | undefined): string {
  if (!s) return 'a value'
  if (Array.isArray(s.enum)) return `one of ${s.enum.join(', ')}`
  if (s.const !== undefined) return JSON.stringify(s.const)
  switch (s.type) {
    case 'integer':
    case 'number': {
      const lo = s.minimum !== undefined ? `${s.minimum}` : undefined
      const hi = s.maximum !== undefined ? `${s.maximum}` : undefined
      if (lo !== undefined && hi !== undefined) return `${s.type} ${lo}-${hi}`
      if (s.exclusiveMinimum !== undefined) return `${s.type} > ${s.exclusiveMinimum}${hi !== undefined ? ` and <= ${hi}` : ''}`
      if (lo !== undefined) return `${s.type} >= ${lo}`
      if (hi !== undefined) return `${s.type} <= ${hi}`
      return s.type
    }
    case 'string':
      if (s.pattern) return `string matching ${s.pattern}`
      if (s.minLength === 1) return s.maxLength ? `non-empty string of at most ${s.maxLength} characters` : 'non-empty string'
      return 'string'
    case 'array':
      return s.minItems ? `array of at least ${s.minItems} item(s)${s.maxItems ? `, at most ${s.maxItems}` : ''}` : 'array'
    case 'object':
      return 'object'
    default:
      return s.type ? String(s.type) : 'a value'
  }
}

function show(v: unknown): string {
  if (Array.isArray(v)) return 'an array'
  if (v !== null && typeof v === 'object') return 'an object'
  const s = JSON.stringify(v) ?? String(v)
  return s.length > 60 ? `${s.slice(0, 57)}...` : s
}

// ---------------------------------------------------------------- semantic rules

function semanticProblems(raw: unknown): string[] {
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
  if (!Array.isArray(raw.nodes)) return lines
  const ids = new Map<string, number>()
  const tcp = new Map<string, number>()
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
    const transport = node.transport ?? 'tcp'
    if (transport === 'tcp') {
      if (node.path !== undefined) lines.push(`${at}.path: only allowed when transport is "ipc"`)
      const port = node.port
      if (typeof port === 'number' && Number.isInteger(port) && port > 0) {
        const host = typeof node.host === 'string' ? node.host : '127.0.0.1'
        const key = `${host}:${port}`
        const first = tcp.get(key)
        if (first !== undefined) lines.push(`${at}.port: duplicate endpoint ${key} (also nodes[${first}].port)`)
        else tcp.set(key, i)
      }
    } else if (transport === 'ipc') {
      for (const k of ['host', 'port']) if (node[k] !== undefined) lines.push(`${at}.${k}: only allowed when transport is "tcp"`)
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

function isObject(v: unknown): v is Record<string, any> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}
