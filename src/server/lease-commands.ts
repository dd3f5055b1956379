/**
 * Layout-lease commands (policy layout-lease): `fs.lease` {file} →
 * {file, holder, breakTimeMs}, `fs.unlease` {file} → {}, `mem.leases` →
 * LeaseInfo[]. The lease is held by the node that asks (ServerFs.lease).
 */
import type { LeaseRevocation } from './lease-revocation.ts'
import type { ServerControl } from './server-context.ts'
import type { ServerFs } from './server-fs.ts'

export function attachLeaseCommands(control: ServerControl, deps: { fs: ServerFs; revocation: LeaseRevocation }): void {
  const { fs } = deps
  // F_SETLEASE(F_LAYOUT), exclusive, held by the node that asks.
  control.handle('fs.lease', (b, from) => fs.lease(b.file, from))
  // F_SETLEASE(F_UNLCK).
  control.handle('fs.unlease', (b, from) => {
    fs.unlease(b.file, from)
    return {}
  })
  control.handle('mem.leases', () => deps.revocation.leases.list())
}
