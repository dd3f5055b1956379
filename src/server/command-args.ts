/** Checks of control-command arguments: a bad one is EINVAL naming the field. */
import { EmuError, ErrorCodes } from '../errors.ts'

export function str(v: unknown, what: string): string {
  if (typeof v !== 'string' || v.length === 0) throw new EmuError(ErrorCodes.EINVAL, `${what} must be a non-empty string`)
  return v
}

export function int(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new EmuError(ErrorCodes.EINVAL, `${what} must be a non-negative integer, got ${String(v)}`)
  return v
}

export function bytes(v: unknown): Uint8Array {
  if (!(v instanceof Uint8Array)) throw new EmuError(ErrorCodes.EINVAL, 'data must be bytes')
  return v
}
