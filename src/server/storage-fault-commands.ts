/**
 * `fs.faults`: inject storage faults on this server's DAX device (fsync EIO,
 * RDMA FLUSH EIO, ENOSPC; src/memory/storage-faults.ts). A null body, or
 * every field off, clears them. The reply is the faults now in force and how
 * often each has struck (also in mem.stats `storageFaults`).
 */
import type { Logger } from 'pino'
import type { StorageFaults } from '../memory/index.ts'
import type { ServerControl } from './server-context.ts'

export function attachStorageFaultCommands(control: ServerControl, faults: StorageFaults, log: Logger): void {
  control.handle('fs.faults', (b, from) => {
    const now = faults.set(b)
    log.info({ from, faults: now }, 'storage faults set')
    return faults.stats()
  })
}
