/**
 * The server's memory-registration commands: `verbs.mr.regFile` {pd, file,
 * offset, length, access, iova?, mapping?} → RemoteMr, and the MR backend behind the
 * verbs service's `verbs.mr.reg` {pd, length, access, iova?} → RemoteMr and
 * `verbs.mr.dereg` {stag} → {} (RAM-arena pages, pinned). Arguments are
 * checked here; a bad one is EINVAL naming the field.
 */
import type { MrBackend } from '../verbs/remote-verbs-service.ts'
import type { MrRegistration } from './mr-registration.ts'
import type { MrRegistry } from './mr-registry.ts'
import type { ServerControl } from './server-context.ts'

export function attachMrCommands(control: ServerControl, registration: MrRegistration): void {
  control.handle('verbs.mr.regFile', (b, from) => {
    const file = b.file
    const offset = b.offset
    const length = b.length
    const access = b.access
    return registration.regFile({ pd: b.pd, file, offset, length, access, iova: b.iova, mapping: b.mapping ?? 'shared' }, from)
  })
}

/** The server's MR backend for the verbs service: anonymous MRs over the RAM arena, released through the registry. */
export function serverMrBackend(registration: MrRegistration, registry: MrRegistry): MrBackend {
  return {
    reg: (pd, length, access, iova, owner) => registration.regAnon(pd, length, access, iova, owner),
    dereg: (stag) => registry.deregister(stag),
  }
}
