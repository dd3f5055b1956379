/**
 * rdma-emu keys --out DIR [--name NAME ...] [-c CONFIG]: make CURVE key pairs
 * (fabric/curve-keys.ts) for the configuration's `security.curve.keys`:
 * DIR/NAME.key (public) and DIR/NAME.key_secret (mode 0600). Without
 * --name: one per node of the configuration, plus "admin".
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import type { Command } from 'commander'
import { capability } from 'zeromq'
import { KEY_NAME, PUBLIC_SUFFIX, SECRET_SUFFIX, writeKeyPair } from '../../fabric/curve-keys.ts'
import { loadConfig, parseConfig } from '../config/load-config.ts'
import { EmuError, ErrorCodes } from '../errors.ts'
import { configOption, displayPath } from './options.ts'

/**
 * Every node id and admin name of a configuration. Its own key files are not
 * required here (they are what this command makes): the configuration is
 * validated without its `security` block, which is checked by shape only.
 */
function configNames(file: string): string[] {
  let raw: Record<string, unknown>
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'))
  } catch {
    loadConfig(file) // the same error as every command: file not found, invalid JSON with its line
    throw new EmuError(ErrorCodes.CONFIG_INVALID, `${file}: not a configuration`)
  }
  const { security, ...rest } = raw ?? {}
  const config = parseConfig(rest, file, { baseDir: dirname(resolve(file)) })
  const admins = (security as { curve?: { admins?: unknown } } | undefined)?.curve?.admins
  const adminNames = Array.isArray(admins) && admins.every((a) => typeof a === 'string') ? (admins as string[]) : ['admin']
  return [...config.nodes.map((n) => n.id), ...adminNames]
}

interface KeysOpts {
  out: string
  name?: string[]
  config: string
}

export function register(program: Command): void {
  program
    .command('keys')
    .description('make CURVE key pairs (NAME.key public, NAME.key_secret secret) for the configuration\'s security.curve.keys')
    .requiredOption('--out <dir>', 'directory to write the key files into (created if missing)')
    .option('--name <name...>', 'key names: node ids and admin names (default: every node of the configuration, and "admin")')
    .addOption(configOption())
    .action((opts: KeysOpts) => {
      if (!capability.curve) throw new EmuError(ErrorCodes.EOPNOTSUPP, 'this build of libzmq has no CURVE support')
      const names = opts.name ?? configNames(opts.config)
      const dupe = names.find((n, i) => names.indexOf(n) !== i)
      if (dupe) throw new EmuError(ErrorCodes.BAD_ARGUMENT, `--name: ${JSON.stringify(dupe)} given twice`)
      // Every name checked before any file is written: a bad one leaves nothing half made.
      for (const name of names) {
        if (!KEY_NAME.test(name)) throw new EmuError(ErrorCodes.BAD_ARGUMENT, `--name: expected letters, digits, '_', '.', '-' (at most 64, like a node id), got ${JSON.stringify(name)}`)
        for (const suffix of [PUBLIC_SUFFIX, SECRET_SUFFIX]) {
          const f = join(opts.out, name + suffix)
          if (existsSync(f)) throw new EmuError(ErrorCodes.BAD_ARGUMENT, `--out: ${displayPath(f)} already exists (keys are never overwritten)`)
        }
      }
      mkdirSync(opts.out, { recursive: true, mode: 0o700 })
      for (const name of names) {
        const { publicFile, secretFile, publicKey } = writeKeyPair(opts.out, name)
        process.stdout.write(`${name}: ${publicKey}  ${displayPath(publicFile)}  ${displayPath(secretFile)} (0600)\n`)
      }
    })
}
