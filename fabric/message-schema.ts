/**
 * How the message table describes a control message: the schema its body
 * must match (checked at the receiving boundary, before any handler runs)
 * and the type of its reply. A body that does not match is refused with
 * ERR_BAD_MESSAGE naming the field, never reaches the handler, and so never
 * surfaces as an internal error.
 */
import * as v from 'valibot'
import { EmuError, ErrorCodes } from '../src/errors.ts'

/** A body schema (valibot). */
export type BodySchema = v.GenericSchema

/** A request/response command: body schema, reply type (type-level only). */
export interface Command<S extends BodySchema = BodySchema, R = unknown> {
  readonly kind: 'command'
  readonly body: S
  /** Never set: carries the reply type. */
  readonly reply?: R
}

/** A one-way notification: body schema, no reply. */
export interface Notice<S extends BodySchema = BodySchema> {
  readonly kind: 'notice'
  readonly body: S
}

export type MessageSpec = Command | Notice
export type MessageTable = Record<string, MessageSpec>

/** `command<Reply>()(bodySchema)`: a command whose reply is `Reply`. */
export const command =
  <R>() =>
  <S extends BodySchema>(body: S): Command<S, R> => ({ kind: 'command', body })

/** A one-way notification with this body. */
export const notice = <S extends BodySchema>(body: S): Notice<S> => ({ kind: 'notice', body })

/** Message types of a table that are requests (commands), and those that are notices. */
export type CommandType<M extends MessageTable> = { [K in keyof M & string]: M[K] extends Command ? K : never }[keyof M & string]
export type NoticeType<M extends MessageTable> = { [K in keyof M & string]: M[K] extends Notice ? K : never }[keyof M & string]

/** The body type of message `K`. */
export type BodyOf<M extends MessageTable, K extends keyof M> = v.InferInput<M[K]['body']>
/** The reply type of command `K`. */
export type ReplyOf<M extends MessageTable, K extends keyof M> = M[K] extends Command<BodySchema, infer R> ? R : never

/** Arguments after the type: the body may be left out when the schema accepts undefined. */
export type BodyArgs<M extends MessageTable, K extends keyof M, Rest extends unknown[] = []> = undefined extends BodyOf<M, K> ? [body?: BodyOf<M, K>, ...Rest] : [body: BodyOf<M, K>, ...Rest]

// ---- schema pieces shared by the tables ----

/** A body that carries nothing (absent, null or an empty object). */
export const NoBody = v.unknown()
/** A non-negative safe integer (offsets, lengths, counts, handles, QP numbers). */
export const UInt = v.pipe(v.number(), v.safeInteger(), v.minValue(0))
/** An integer at least `min`. */
export const IntFrom = (min: number) => v.pipe(v.number(), v.safeInteger(), v.minValue(min))
/** A duration or deadline in milliseconds (fractions allowed: callers compute them from performance.now()). */
export const Ms = v.pipe(v.number(), v.minValue(0))
/** A 32-bit unsigned key (STag, rkey, lkey). */
export const Key = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(0xffffffff))
/** A non-empty string (names, node ids). */
export const Name = v.pipe(v.string(), v.minLength(1))
/** Raw bytes (msgpackr bin: a Buffer or Uint8Array). */
export const Bytes: v.GenericSchema<Uint8Array> = v.instance(Uint8Array)
/** A 64-bit atomic operand: a bigint (msgpackr carries bigints as 64-bit integers both ways). */
export const U64 = v.bigint()

/**
 * Checks a body against its message type's schema. `check` throws
 * ERR_BAD_MESSAGE naming the first field that does not match; types the
 * table does not know pass unchecked (they have no handler either).
 */
export class BodyChecker {
  constructor(private readonly table: MessageTable) {}

  check(type: string, body: unknown): void {
    const spec = Object.hasOwn(this.table, type) ? this.table[type] : undefined
    if (!spec) return
    const r = v.safeParse(spec.body, body, { abortEarly: true })
    if (r.success) return
    const issue = r.issues[0]
    const field = fieldName(issue.path?.map((p) => p.key) ?? [])
    throw new EmuError(ErrorCodes.BAD_MESSAGE, `"${type}": ${field}: ${wanted(issue)}`, { type, field })
  }
}

/** ['wrs', 0, 'opcode'] → 'wrs[0].opcode'; [] → 'body'. */
function fieldName(path: unknown[]): string {
  if (path.length === 0) return 'body'
  return path.map((k, i) => (typeof k === 'number' ? `[${k}]` : i === 0 ? String(k) : `.${String(k)}`)).join('')
}

/** What the schema wanted and what came, in words. */
function wanted(issue: v.BaseIssue<unknown>): string {
  const objectIssue = issue.type === 'object' || issue.type === 'strict_object'
  if (objectIssue && issue.received === 'undefined' && issue.path?.length) return 'required, got nothing'
  if (issue.type === 'strict_object' && issue.expected === 'never') return 'unknown field'
  if (issue.type === 'integer' || issue.type === 'safe_integer') return `expected an integer, got ${issue.received}`
  if (issue.expected === null) return issue.message
  return `expected ${issue.expected}, got ${issue.received}`
}
