/**
 * The few C printf conversions perftest's report formats use, so our rows
 * come out byte for byte as perftest prints them: %d %u %lu %x (with the
 * `-`, `0` and `#` flags and a width) and %f / %lf (with a precision).
 * `#` with x follows C: a non-zero value gets "0x" inside the width, zero
 * gets no prefix (perftest's "LID %#04x" prints 0 as "0000").
 */
import { EmuError, ErrorCodes } from '../errors.ts'

const SPEC = /%([-#0]*)(\d*)(?:\.(\d+))?(?:hh|h|ll|l)?([dufxs%])/g

/** One conversion of `spec` (flags, width, precision, conversion letter) applied to `v`. */
function convert(flags: string, width: number, precision: number | undefined, conv: string, v: unknown): string {
  let body: string
  let prefix = ''
  switch (conv) {
    case 'd':
    case 'u':
      body = typeof v === 'bigint' ? v.toString() : String(Math.trunc(Number(v)))
      break
    case 'x': {
      const n = typeof v === 'bigint' ? v : BigInt(Math.trunc(Number(v)))
      body = n.toString(16)
      if (flags.includes('#') && n !== 0n) prefix = '0x'
      break
    }
    case 'f':
      body = Number(v).toFixed(precision ?? 6)
      break
    default:
      body = String(v)
  }
  if (body.startsWith('-')) {
    prefix = '-' + prefix
    body = body.slice(1)
  }
  const pad = width - prefix.length - body.length
  if (pad <= 0) return prefix + body
  if (flags.includes('-')) return prefix + body + ' '.repeat(pad)
  if (flags.includes('0')) return prefix + '0'.repeat(pad) + body
  return ' '.repeat(pad) + prefix + body
}

/** sprintf(fmt, ...args) for the conversions above; too few arguments is a programming error. */
export function sprintf(fmt: string, ...args: readonly unknown[]): string {
  let i = 0
  return fmt.replace(SPEC, (_m, flags: string, width: string, precision: string | undefined, conv: string) => {
    if (conv === '%') return '%'
    if (i >= args.length) throw new EmuError(ErrorCodes.INTERNAL, `sprintf: format "${fmt}" needs more than ${args.length} arguments`)
    return convert(flags, width === '' ? 0 : Number(width), precision === undefined ? undefined : Number(precision), conv, args[i++])
  })
}
