/**
 * CURVE key files, in the spirit of ZeroMQ's certificate files: for a name
 * NAME, `NAME.key` holds its public key and `NAME.key_secret` (mode 0600)
 * its secret key, each a 40-character Z85 string (zmq_z85_encode of the 32
 * key bytes) on a line of its own; lines starting with '#' are comments.
 *
 * The same X25519 keys also give each pair of key holders a shared secret
 * (crypto_box's Diffie-Hellman, done with node:crypto), from which the
 * control plane derives the token that proves which key sent a request
 * (fabric/control-auth.ts).
 */
import { createHmac, createPrivateKey, createPublicKey, diffieHellman } from 'node:crypto'
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { curveKeyPair } from 'zeromq'
import { EmuError, ErrorCodes } from '../src/errors.ts'

export const PUBLIC_SUFFIX = '.key'
export const SECRET_SUFFIX = '.key_secret'
/** Key names: what a node id may be, so a node's key is named after it. */
export const KEY_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/

const Z85_CHARS = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#'
const Z85_VALUE = new Map([...Z85_CHARS].map((c, i) => [c, i]))

/** True for a 40-character Z85 string (a 32-byte CURVE key). */
export function isZ85Key(s: string): boolean {
  return s.length === 40 && [...s].every((c) => Z85_VALUE.has(c))
}

/** The 32 bytes of a Z85 key (zmq_z85_decode). */
export function z85Decode(s: string): Buffer {
  if (!isZ85Key(s)) throw new EmuError(ErrorCodes.EINVAL, 'expected a 40-character Z85 CURVE key')
  const out = Buffer.alloc(32)
  for (let i = 0, o = 0; i < 40; i += 5) {
    let v = 0
    for (let j = 0; j < 5; j++) v = v * 85 + Z85_VALUE.get(s[i + j]!)!
    out.writeUInt32BE(v >>> 0, o)
    o += 4
  }
  return out
}

export interface KeyPair {
  publicKey: string
  secretKey: string
}

/** Write a fresh key pair for `name` into `dir`; refuses to overwrite (EEXIST). Returns the two paths. */
export function writeKeyPair(dir: string, name: string): { publicFile: string; secretFile: string; publicKey: string } {
  if (!KEY_NAME.test(name)) throw new EmuError(ErrorCodes.BAD_ARGUMENT, `--name: expected letters, digits, '_', '.', '-' (at most 64, like a node id), got ${JSON.stringify(name)}`)
  const publicFile = join(dir, name + PUBLIC_SUFFIX)
  const secretFile = join(dir, name + SECRET_SUFFIX)
  for (const f of [publicFile, secretFile]) {
    if (existsSync(f)) throw new EmuError(ErrorCodes.BAD_ARGUMENT, `${f}: already exists (keys are never overwritten; remove it first)`)
  }
  const { publicKey, secretKey } = curveKeyPair()
  writeFileSync(secretFile, `# rdma-emu CURVE secret key of "${name}" (Z85). Keep it private.\n${secretKey}\n`, { mode: 0o600 })
  // An umask cannot widen it, but the mode of an existing file would not change: set it explicitly.
  chmodSync(secretFile, 0o600)
  writeFileSync(publicFile, `# rdma-emu CURVE public key of "${name}" (Z85)\n${publicKey}\n`, { mode: 0o644 })
  return { publicFile, secretFile, publicKey }
}

/** The Z85 key in a key file; EmuError(CONFIG_INVALID) naming `what` and the file when it is missing or malformed. */
export function readKeyFile(file: string, what: string): string {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found (make keys with `rdma-emu keys`)' : (err as Error).message
    throw new EmuError(ErrorCodes.CONFIG_INVALID, `${what}: ${file}: ${why}`)
  }
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'))
  if (lines.length !== 1 || !isZ85Key(lines[0]!)) throw new EmuError(ErrorCodes.CONFIG_INVALID, `${what}: ${file}: expected one 40-character Z85 key line`)
  return lines[0]!
}

const b64url = (b: Buffer): string => b.toString('base64url')

/**
 * The 32-byte secret shared by the holder of `secretKey` and the holder of
 * the secret of `peerPublicKey` (X25519; both sides compute the same bytes).
 */
export function sharedSecret(secretKey: string, publicKey: string, peerPublicKey: string): Buffer {
  const privateKey = createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', d: b64url(z85Decode(secretKey)), x: b64url(z85Decode(publicKey)) }, format: 'jwk' })
  const peer = createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: b64url(z85Decode(peerPublicKey)) }, format: 'jwk' })
  return diffieHellman({ privateKey, publicKey: peer })
}

/**
 * The token the key `sender` presents to `receiver` on every control request:
 * HMAC-SHA256 of both names under their shared secret, 16 bytes. Only the two
 * key holders can compute it, and it only travels inside CURVE-encrypted
 * connections, so a cluster member cannot learn another's token.
 */
export function controlToken(shared: Buffer, sender: string, receiver: string): Uint8Array {
  return createHmac('sha256', shared).update(`rdma-emu control v1\0${sender}\0${receiver}`).digest().subarray(0, 16)
}
