/**
 * Where the package's own files are (nodes/, scenarios/, the JSON schemas),
 * from either form of this module: the build (dist/src/package-root.js, what
 * the CLI, node processes and workers run) or the TypeScript source
 * (src/package-root.ts, which the tests load through tsx).
 */
import { fileURLToPath } from 'node:url'

/** True when this code runs from the TypeScript sources, not the build. */
export const FROM_SOURCE = import.meta.url.endsWith('.ts')

const ROOT = new URL(FROM_SOURCE ? '../' : '../../', import.meta.url)

/** A file or folder of the package, by its path from the package root (`nodes/rdma-emu.js`). */
export function packagePath(rel: string): string {
  return fileURLToPath(new URL(rel, ROOT))
}
