import { readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { isZ85Key } from '../fabric/curve-keys.ts'
import { applyDefaults } from '../src/config/defaults.ts'
import { plainFabricWarning } from '../src/config/security.ts'
import { runCli, tempDir, writeConfig } from './cluster-helpers.ts'

// `rdma-emu keys` writes the key files a configuration's security.curve
// names; `validate` refuses a configuration whose key files are missing;
// a configuration without keys is warned about once it leaves loopback.
const NODES = [{ id: 'server0', role: 'server' }, { id: 'client0', role: 'client' }]

t.test('keys - one pair per node and admin, secret 0600, never overwritten', async (t) => {
  const dir = tempDir(t)
  const cfg = writeConfig(dir, { nodes: NODES, security: { curve: { keys: 'keys' } } })
  const before = await runCli(['validate', '-c', cfg])
  t.equal(before.code, 2, 'validate: exit 2 before the keys exist')
  t.match(before.stderr, /security\.curve\.keys: directory not found/, 'naming the path')

  const r = await runCli(['keys', '--out', join(dir, 'keys'), '-c', cfg])
  t.equal(r.code, 0, `keys: exit 0 ${r.stderr}`)
  for (const name of ['server0', 'client0', 'admin']) {
    const pub = readFileSync(join(dir, 'keys', `${name}.key`), 'utf8').split('\n').filter((l) => l && !l.startsWith('#'))
    const sec = readFileSync(join(dir, 'keys', `${name}.key_secret`), 'utf8').split('\n').filter((l) => l && !l.startsWith('#'))
    t.ok(pub.length === 1 && isZ85Key(pub[0]!), `${name}.key: one Z85 public key`)
    t.ok(sec.length === 1 && isZ85Key(sec[0]!) && sec[0] !== pub[0], `${name}.key_secret: one Z85 secret key`)
    t.equal(statSync(join(dir, 'keys', `${name}.key_secret`)).mode & 0o777, 0o600, `${name}.key_secret: mode 0600`)
    t.match(r.stdout, new RegExp(`^${name}: ${pub[0]!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`, 'm'), `prints ${name}'s public key`)
  }
  const valid = await runCli(['validate', '-c', cfg])
  t.equal(valid.code, 0, `validate: exit 0 with the keys ${valid.stderr}`)

  const again = await runCli(['keys', '--out', join(dir, 'keys'), '--name', 'extra', 'admin'])
  t.equal(again.code, 2, 'an existing key: exit 2')
  t.match(again.stderr, /admin\.key already exists/, 'naming the file')
  t.throws(() => statSync(join(dir, 'keys', 'extra.key')), 'and nothing of the run was written')
  const bad = await runCli(['keys', '--out', join(dir, 'keys'), '--name', '../evil'])
  t.equal(bad.code, 2, 'a bad name: exit 2')
  t.match(bad.stderr, /--name/, 'naming the option')
})

t.test('keys - a missing public key, an admin named like a node: exit 2 naming the path', async (t) => {
  const dir = tempDir(t)
  await runCli(['keys', '--out', join(dir, 'keys'), '--name', 'server0', 'admin'])
  const cfg = writeConfig(dir, { nodes: NODES, security: { curve: { keys: 'keys', admins: ['admin', 'server0'] } } })
  const r = await runCli(['validate', '-c', cfg])
  t.equal(r.code, 2)
  t.match(r.stderr, /security\.curve\.keys: public key of "client0": .*client0\.key: file not found/, 'the missing key file')
  t.match(r.stderr, /security\.curve\.admins\[1\]: "server0" is a node id/, 'the admin named like a node')
})

t.test('keys - without keys, a warning once an address is not loopback', async (t) => {
  const loopback = applyDefaults({ nodes: NODES })
  t.equal(plainFabricWarning(loopback), undefined, 'all on loopback: no warning')
  const lan = applyDefaults({ nodes: [{ id: 'server0', role: 'server', host: '10.77.0.1' }, { id: 'client0', role: 'client' }] })
  t.match(plainFabricWarning(lan), /no CURVE keys configured .* server0 \(10\.77\.0\.1\) listen beyond loopback: the fabric is unencrypted/, 'a LAN address: warned, naming the node')
  const keyed = applyDefaults({ security: { curve: { keys: '/nonexistent' } }, nodes: lan.nodes })
  t.equal(plainFabricWarning(keyed), undefined, 'with keys: no warning')
})
