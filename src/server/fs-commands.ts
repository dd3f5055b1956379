/**
 * The filesystem's control commands (`fs.*`): what a local process on the
 * server host can do to files, offered to every node so scenarios and tests
 * can drive it (create, write, read, truncate, punch, fallocate, fsync,
 * unlink, stat, extents, list).
 */
import { FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, type FileSystem } from '../memory/index.ts'
import type { ServerControl } from './server-context.ts'

/** `onUnlinked`: the file `ino` is gone (its layout lease, if the unlink did not break one, goes with it). */
export function attachFsCommands(control: ServerControl, fs: FileSystem, onUnlinked: (ino: number) => void): void {
  const h: ServerControl['handle'] = (type, fn) => control.handle(type, fn)
  h('fs.create', (b) => ({ ino: fs.create(b.name, { dax: b.dax === true }) }))
  h('fs.write', (b) => {
    const ino = fs.lookup(b.name)
    return { written: fs.write(ino, b.offset, b.data) }
  })
  h('fs.read', (b) => fs.read(fs.lookup(b.name), b.offset, b.length))
  h('fs.truncate', async (b) => {
    await fs.truncate(fs.lookup(b.name), b.size)
    return {}
  })
  h('fs.punch', async (b) => {
    await fs.fallocate(fs.lookup(b.name), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, b.offset, b.length)
    return {}
  })
  h('fs.fallocate', async (b) => {
    await fs.fallocate(fs.lookup(b.name), b.mode ?? 0, b.offset, b.length)
    return {}
  })
  h('fs.fsync', (b) => fs.fsync(fs.lookup(b.name)))
  h('fs.unlink', async (b) => {
    const name = b.name
    const ino = fs.lookup(name)
    await fs.unlink(name)
    onUnlinked(ino)
    return {}
  })
  h('fs.stat', (b) => fs.stat(fs.lookup(b.name)))
  h('fs.extents', (b) => fs.extents(fs.lookup(b.name)))
  h('fs.list', () => fs.list())
}
