/** Options and argument parsers shared by several commands. */
import { isAbsolute, relative } from 'node:path'
import { InvalidArgumentError, Option } from 'commander'
import { DEFAULT_CONFIG_PATH } from '../config/load-config.ts'

export const configOption = () =>
  new Option('-c, --config <file>', 'cluster configuration file').default(DEFAULT_CONFIG_PATH)

export const runDirOption = () =>
  new Option('--run-dir <dir>', 'run directory for logs and data (default: ./runs/<timestamp>)')

/** Parser for an integer option within [min, max]; commander names the option in its error. */
export function intArg(min: number, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    const n = Number(value)
    if (!/^\s*-?\d+\s*$/.test(value) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(max === Number.MAX_SAFE_INTEGER ? `expected an integer >= ${min}` : `expected an integer ${min}-${max}`)
    }
    return n
  }
}

/** A path as users want to read it: relative when under the current directory. */
export function displayPath(p: string): string {
  const rel = relative(process.cwd(), p)
  return rel === '' ? '.' : rel.startsWith('..') || isAbsolute(rel) ? p : rel
}

/** --metrics-port, --metrics-host, --no-metrics (src/config/metrics-config.ts): the Prometheus endpoint. */
export const metricsPortOption = () =>
  new Option('--metrics-port <port>', "serve Prometheus metrics at http://HOST:PORT/metrics (0: a free port; default: the configuration's `metrics` block, else none)").argParser(intArg(0, 65535))
export const metricsHostOption = () => new Option('--metrics-host <ip>', 'IP address the metrics endpoint binds (default 127.0.0.1: loopback only)')
export const noMetricsOption = () => new Option('--no-metrics', 'serve no metrics, whatever the configuration says')
