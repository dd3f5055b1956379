/**
 * The filesystem's control commands (`fs.*`): what a local process on the
 * server host can do to files, offered to every node so scenarios and tests
 * can drive it (create, write, read, truncate, punch, fallocate, fsync,
 * unlink, stat, extents, list, and interrupt for a truncate or punch that
 * waits). Each is the ServerFs call of the same name.
 */
import type { ServerControl } from './server-context.ts'
import type { ServerFs } from './server-fs.ts'

export function attachFsCommands(control: ServerControl, fs: ServerFs): void {
  const h: ServerControl['handle'] = (type, fn) => control.handle(type, fn)
  h('fs.create', (b) => ({ ino: fs.create(b.name, { dax: b.dax === true }) }))
  h('fs.write', (b) => ({ written: fs.write(b.name, b.offset, b.data) }))
  h('fs.read', (b) => fs.read(b.name, b.offset, b.length))
  h('fs.truncate', async (b) => {
    await fs.truncate(b.name, b.size, { waitMs: b.waitMs })
    return {}
  })
  h('fs.punch', async (b) => {
    await fs.punch(b.name, b.offset, b.length, { waitMs: b.waitMs })
    return {}
  })
  h('fs.interrupt', (b) => ({ interrupted: fs.interrupt(b.name) }))
  h('fs.fallocate', async (b) => {
    await fs.fallocate(b.name, b.mode ?? 0, b.offset, b.length)
    return {}
  })
  h('fs.fsync', (b) => fs.fsync(b.name))
  h('fs.unlink', async (b) => {
    await fs.unlink(b.name)
    return {}
  })
  h('fs.stat', (b) => fs.stat(b.name))
  h('fs.extents', (b) => fs.extents(b.name))
  h('fs.list', () => fs.list())
}
