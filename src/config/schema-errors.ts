/**
 * ajv errors as the lines users read: the exact JSON path, then what was
 * expected (and what was there), one line per problem, e.g.
 *   steps[2].size: expected integer 1-16777216, got "4k"
 *   steps[3].do: expected one of createFile, ..., got "explode"
 *   expect[0].fill: unknown property, expected one of policy, metric, op, value, why
 * Used for both the cluster configuration (src/config/load-config.ts) and
 * scenarios (src/scenario/load-scenario.ts). A scenario's step kinds are
 * chosen with if/then on `do`, so only the chosen kind's errors are reported
 * (the `if` bookkeeping errors are dropped).
 */
import type { ErrorObject } from 'ajv/dist/2020.js'

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON documents (schemas, parsed output) are untyped until checked
type Schema = Record<string, any>

/** Resolves a `$ref` of the schema at hand (its own `#/...`, or another loaded schema's). */
export type RefResolver = (ref: string) => Schema | undefined

export function schemaProblems(errors: readonly ErrorObject[], label: string, resolveRef: RefResolver): string[] {
  const lines: string[] = []
  const seenPaths = new Set<string>()
  // anyOf: one line for the whole choice, not one per branch.
  const anyOfPaths = new Map<string, ErrorObject>()
  for (const e of errors) if (e.keyword === 'anyOf') anyOfPaths.set(e.instancePath, e)
  const resolve = (s: Schema | undefined): Schema | undefined => (s && typeof s.$ref === 'string' ? resolveRef(s.$ref) : s)

  for (const e of errors) {
    const path = toPath(e.instancePath)
    const where = path || label
    if (e.keyword === 'if') continue
    const choice = anyOfPaths.get(e.instancePath)
    if (choice && e !== choice && e.schemaPath.startsWith(choice.schemaPath + '/')) continue
    switch (e.keyword) {
      case 'required': {
        const prop = (e.params as { missingProperty: string }).missingProperty
        lines.push(`${join(path, prop)}: missing, expected ${describe(resolve(e.parentSchema?.properties?.[prop]))}`)
        break
      }
      case 'additionalProperties': {
        const prop = (e.params as { additionalProperty: string }).additionalProperty
        const allowed = Object.keys(e.parentSchema?.properties ?? {}).join(', ')
        lines.push(`${join(path, prop)}: unknown property, expected one of ${allowed}`)
        break
      }
      case 'uniqueItems': {
        const { i, j } = e.params as { i: number; j: number }
        lines.push(`${where}: items ${j} and ${i} are the same (${show((e.data as unknown[])[i])}), expected each at most once`)
        break
      }
      case 'anyOf':
        lines.push(`${where}: expected ${sentence(e.parentSchema?.description) ?? 'one of the allowed forms'}, got ${show(e.data)}`)
        break
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
  return [...new Set(lines)]
}

/** JSON pointer (/steps/1/size) to the path users read (steps[1].size). */
export function toPath(pointer: string): string {
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

/** "A policy, a list of policies." -> "a policy, a list of policies" */
function sentence(s: unknown): string | undefined {
  if (typeof s !== 'string' || !s) return undefined
  return (s[0]!.toLowerCase() + s.slice(1)).replace(/\.$/, '')
}

/** What a schema accepts, in words: "integer 0-65535", "one of write, read". */
export function describe(s: Schema | undefined): string {
  if (!s) return 'a value'
  if (Array.isArray(s.enum)) return `one of ${s.enum.join(', ')}`
  if (s.const !== undefined) return JSON.stringify(s.const)
  if (Array.isArray(s.type)) return s.type.join(' or ')
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

export function show(v: unknown): string {
  if (Array.isArray(v)) return v.length === 0 ? 'an empty array' : `an array of ${v.length} item${v.length === 1 ? '' : 's'}`
  if (v !== null && typeof v === 'object') return 'an object'
  const s = JSON.stringify(v) ?? String(v)
  return s.length > 60 ? `${s.slice(0, 57)}...` : s
}
