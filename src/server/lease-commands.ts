/**
 * Layout-lease commands (policy layout-lease): `fs.lease` {file} →
 * {file, holder, breakTimeMs}, `fs.unlease` {file} → {}, `mem.leases` →
 * LeaseInfo[].
 */
import { EmuError, ErrorCodes } from '../errors.ts'
import type { FileSystem, LayoutPolicy } from '../memory/index.ts'
import type { LeaseRevocation } from './lease-revocation.ts'
import type { MrRegistry } from './mr-registry.ts'
import type { ServerControl } from './server-context.ts'

export function attachLeaseCommands(control: ServerControl, deps: { fs: FileSystem; policy: LayoutPolicy; revocation: LeaseRevocation; registry: MrRegistry }): void {
  const { fs, policy, registry } = deps
  const { leases } = deps.revocation
  // F_SETLEASE(F_LAYOUT), exclusive, held by the node that asks.
  control.handle('fs.lease', (b, from) => {
    const name = b.file
    const ino = fs.lookup(name)
    if (!policy.needsLease) throw new EmuError(ErrorCodes.EOPNOTSUPP, `layout leases need policy layout-lease (this server: ${policy.name})`)
    const l = leases.acquire(ino, name, from)
    return { file: name, holder: l.holder, breakTimeMs: leases.breakTimeMs }
  })
  // F_SETLEASE(F_UNLCK). Found by name even after an unlink took the name
  // (the holder answering a break caused by that unlink).
  control.handle('fs.unlease', (b, from) => {
    const name = b.file
    let ino: number | undefined
    try {
      ino = fs.lookup(name)
    } catch {
      // Gone from the namespace: maybe unlinked under a lease.
    }
    const l = (ino !== undefined ? leases.get(ino) : undefined) ?? leases.byFile(name)
    if (!l) {
      if (ino === undefined) throw new EmuError(ErrorCodes.ENOENT, `${name} not found`)
      throw new EmuError(ErrorCodes.EINVAL, `${name} has no layout lease`)
    }
    leases.release(l.ino, name, from, registry.leaseMrs(l.ino, from).length)
    return {}
  })
  control.handle('mem.leases', () => leases.list())
}
