/**
 * The filesystem's control commands (`fs.*`): what a local process on the
 * server host can do to files, offered to every node so scenarios and tests
 * can drive it (create, write, read, truncate, punch, fallocate, fsync,
 * unlink, stat, extents, list).
 */
import { FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, type FileSystem } from '../memory/index.ts'
import { bytes, int, str } from './command-args.ts'
import type { ServerControl } from './server-context.ts'

/** `onUnlinked`: the file `ino` is gone (its layout lease, if the unlink did not break one, goes with it). */
export function attachFsCommands(control: ServerControl, fs: FileSystem, onUnlinked: (ino: number) => void): void {
  const h: ServerControl['handle'] = (type, fn) => control.handle(type, fn)
  h('fs.create', (b: { name: string; dax?: boolean }) => ({ ino: fs.create(str(b?.name, 'name'), { dax: b.dax === true }) }))
  h('fs.write', (b: { name: string; offset: number; data: Uint8Array }) => {
    const ino = fs.lookup(str(b?.name, 'name'))
    return { written: fs.write(ino, int(b.offset, 'offset'), bytes(b.data)) }
  })
  h('fs.read', (b: { name: string; offset: number; length: number }) => fs.read(fs.lookup(str(b?.name, 'name')), int(b.offset, 'offset'), int(b.length, 'length')))
  h('fs.truncate', async (b: { name: string; size: number }) => {
    await fs.truncate(fs.lookup(str(b?.name, 'name')), int(b.size, 'size'))
    return {}
  })
  h('fs.punch', async (b: { name: string; offset: number; length: number }) => {
    await fs.fallocate(fs.lookup(str(b?.name, 'name')), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, int(b.offset, 'offset'), int(b.length, 'length'))
    return {}
  })
  h('fs.fallocate', async (b: { name: string; mode?: number; offset: number; length: number }) => {
    await fs.fallocate(fs.lookup(str(b?.name, 'name')), int(b.mode ?? 0, 'mode'), int(b.offset, 'offset'), int(b.length, 'length'))
    return {}
  })
  h('fs.fsync', (b: { name: string }) => fs.fsync(fs.lookup(str(b?.name, 'name'))))
  h('fs.unlink', async (b: { name: string }) => {
    const name = str(b?.name, 'name')
    const ino = fs.lookup(name)
    await fs.unlink(name)
    onUnlinked(ino)
    return {}
  })
  h('fs.stat', (b: { name: string }) => fs.stat(fs.lookup(str(b?.name, 'name'))))
  h('fs.extents', (b: { name: string }) => fs.extents(fs.lookup(str(b?.name, 'name'))))
  h('fs.list', () => fs.list())
}
