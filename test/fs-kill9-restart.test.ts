import t from 'tap'
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { writeFileSync } from 'node:fs'
import { ServerMemory } from '../src/memory/index.ts'

const memoryIndex = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/memory/index.ts')

t.test('fs - fsynced data survives a real kill -9 of the server process', async (t) => {
  const dir = t.testdir()
  const dataDir = path.join(dir, 'data')
  const script = path.join(dir, 'writer.ts')
  writeFileSync(script, `
import { createHash } from 'node:crypto'
import { ServerMemory } from ${JSON.stringify(memoryIndex)}
const mem = new ServerMemory({ dataDir: ${JSON.stringify(dataDir)}, deviceBytes: 256 * 4096, ramBytes: 16 * 4096 })
const data = new Uint8Array(100 * 4096 + 77)
for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761) >>> 24
const ino = mem.fs.create('victim.dat', { dax: true })
mem.fs.write(ino, 0, data)
mem.fs.fsync(ino)
const cached = mem.fs.create('cached.dat')
mem.fs.write(cached, 0, data.subarray(0, 9000))
mem.fs.fsync(cached)
mem.fs.create('lost.dat', { dax: true })
process.stdout.write(createHash('sha256').update(data).digest('hex') + '\\n')
setInterval(() => {}, 1000) // stay alive until killed
`)
  const child = spawn(process.execPath, ['--import', 'tsx', script], { stdio: ['ignore', 'pipe', 'inherit'] })
  const sum = await new Promise<string>((resolve, reject) => {
    let out = ''
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString()
      if (out.includes('\n')) resolve(out.trim())
    })
    child.on('exit', (code) => reject(new Error(`writer exited early with ${code}`)))
  })
  const exited = new Promise((resolve) => child.once('exit', (_c, sig) => resolve(sig)))
  child.kill('SIGKILL')
  t.equal(await exited, 'SIGKILL')

  const mem = new ServerMemory({ dataDir, deviceBytes: 256 * 4096, ramBytes: 16 * 4096 })
  t.teardown(() => mem.close())
  t.same(mem.fs.list(), ['cached.dat', 'victim.dat'], 'the unsynced create is gone')
  const ino = mem.fs.lookup('victim.dat')
  const back = mem.fs.read(ino, 0, mem.fs.stat(ino).size)
  t.equal(back.length, 100 * 4096 + 77)
  t.equal(createHash('sha256').update(back).digest('hex'), sum, 'checksum matches')
  const c = mem.fs.lookup('cached.dat')
  t.same(mem.fs.read(c, 0, 9000), back.subarray(0, 9000))
})
