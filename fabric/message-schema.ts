/**
 * How the message table describes a control message: the schema its body
 * must match (checked at the receiving boundary, before any handler runs)
 * and the type of its reply. A body that does not match is refused with
 * ERR_BAD_MESSAGE naming the field, never reaches the handler, and so never
 * surfaces as an internal error.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox'
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler'
import { EmuError, ErrorCodes } from '../src/errors.ts'

/** A request/response command: body schema, reply type (type-level only). */
export interface Command<S extends TSchema = TSchema, R = unknown> {
  readonly kind: 'command'
  readonly body: S
  /** Never set: carries the reply type. */
  readonly reply?: R
}

/** A one-way notification: body schema, no reply. */
export interface Notice<S extends TSchema = TSchema> {
  readonly kind: 'notice'
  readonly body: S
}

export type MessageSpec = Command | Notice
export type MessageTable = Record<string, MessageSpec>

/** `command<Reply>()(bodySchema)`: a command whose reply is `Reply`. */
export const command =
  <R>() =>
  <S extends TSchema>(body: S): Command<S, R> => ({ kind: 'command', body })

/** A one-way notification with this body. */
export const notice = <S extends TSchema>(body: S): Notice<S> => ({ kind: 'notice', body })

/** Message types of a table that are requests (commands), and those that are notices. */
export type CommandType<M extends MessageTable> = { [K in keyof M & string]: M[K] extends Command ? K : never }[keyof M & string]
export type NoticeType<M extends MessageTable> = { [K in keyof M & string]: M[K] extends Notice ? K : never }[keyof M & string]

/** The body type of message `K`. */
export type BodyOf<M extends MessageTable, K extends keyof M> = Static<M[K]['body']>
/** The reply type of command `K`. */
export type ReplyOf<M extends MessageTable, K extends keyof M> = M[K] extends Command<TSchema, infer R> ? R : never

/** Arguments after the type: the body may be left out when the schema accepts undefined. */
export type BodyArgs<M extends MessageTable, K extends keyof M, Rest extends unknown[] = []> = undefined extends BodyOf<M, K> ? [body?: BodyOf<M, K>, ...Rest] : [body: BodyOf<M, K>, ...Rest]

// ---- schema pieces shared by the tables ----

/** A body that carries nothing (absent, null or an empty object). */
export const NoBody = Type.Unknown()
/** A non-negative safe integer (offsets, lengths, counts, handles, QP numbers). */
export const UInt = Type.Integer({ minimum: 0 })
/** A duration or deadline in milliseconds (fractions allowed: callers compute them from performance.now()). */
export const Ms = Type.Number({ minimum: 0 })
/** A 32-bit unsigned key (STag, rkey, lkey). */
export const Key = Type.Integer({ minimum: 0, maximum: 0xffffffff })
/** A non-empty string (names, node ids). */
export const Name = Type.String({ minLength: 1 })
/** Raw bytes (msgpackr bin: a Buffer or Uint8Array). */
export const Bytes = Type.Uint8Array()
/** A 64-bit atomic operand: a bigint (msgpackr carries bigints as 64-bit integers both ways). */
export const U64 = Type.BigInt()

/**
 * Validators compiled once per message type, on first use. `check` throws
 * ERR_BAD_MESSAGE naming the first field that does not match.
 */
export class BodyChecker {
  private readonly compiled = new Map<string, TypeCheck<TSchema> | null>()
  constructor(private readonly table: MessageTable) {}

  check(type: string, body: unknown): void {
    let c = this.compiled.get(type)
    if (c === undefined) {
      const spec = this.table[type]
      c = spec ? TypeCompiler.Compile(spec.body) : null
      this.compiled.set(type, c)
    }
    if (c === null || c.Check(body)) return
    const e = c.Errors(body).First()
    const field = fieldName(e?.path ?? '')
    const got = e ? describe(e.value) : describe(body)
    throw new EmuError(ErrorCodes.BAD_MESSAGE, `"${type}": ${field}: ${e ? expected(e.schema, e.message) : 'does not match'}, got ${got}`, { type, field })
  }
}

/** '/wrs/0/opcode' → 'wrs[0].opcode'; '' → 'body'. */
function fieldName(path: string): string {
  if (path === '') return 'body'
  return path
    .slice(1)
    .split('/')
    .map((p, i) => (/^\d+$/.test(p) ? `[${p}]` : i === 0 ? p : `.${p}`))
    .join('')
}

/** What the schema wanted, in words: a choice of literals is listed. */
function expected(schema: TSchema, message: string): string {
  const choices = (schema as { anyOf?: Array<{ const?: unknown }> }).anyOf
  if (choices?.length && choices.every((c) => c.const !== undefined)) return `expected one of ${choices.map((c) => JSON.stringify(c.const)).join(', ')}`
  return message.charAt(0).toLowerCase() + message.slice(1)
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing'
  if (v instanceof Uint8Array) return `${v.length} bytes`
  if (typeof v === 'bigint') return `${v}n`
  const s = JSON.stringify(v)
  return s === undefined ? String(v) : s.length > 60 ? `${s.slice(0, 57)}...` : s
}
