import t from 'tap'
import { curveKeyPair } from 'zeromq'
import { ControlAuth, type CurveIdentity } from '../fabric/control-auth.ts'
import { ErrorCodes } from '../src/errors.ts'

// With CURVE a request proves its sender's key with a token only that key's
// holder and the receiver can compute (fabric/control-auth.ts): the caller
// is the key, not the routing id it came from.
const pairs = Object.fromEntries(['server0', 'client0', 'client1', 'admin'].map((n) => [n, curveKeyPair()]))
const keys = new Map(Object.entries(pairs).map(([n, p]) => [n, p.publicKey]))
const identity = (name: string): CurveIdentity => ({ name, publicKey: pairs[name]!.publicKey, secretKey: pairs[name]!.secretKey, keys, admins: new Set(['admin']) })

t.test('auth - the caller is the key a request proves', async (t) => {
  const server = new ControlAuth({ self: 'server0', curve: identity('server0'), enforce: true })
  const token = (name: string) => new ControlAuth({ self: name, curve: identity(name), enforce: false }).tokenFor('server0')!

  const c0 = token('client0')
  t.same(server.caller('client0', c0.k, c0.a), { id: 'client0', key: 'client0', admin: false, principal: 'client0' }, "client0's key from client0: client0")
  t.same(server.caller('client1', c0.k, c0.a), { id: 'client1', key: 'client0', admin: false }, "client0's key under client1's routing id: no principal")
  const adm = token('admin')
  t.same(server.caller('@tool-1', adm.k, adm.a), { id: '@tool-1', key: 'admin', admin: true, principal: '@tool-1' }, 'the admin key: the operator')
  t.same(server.caller('@launcher', 'admin', c0.a), { id: '@launcher', admin: false }, "claiming the admin key with client0's token: nobody")
  t.same(server.caller('@launcher', undefined, undefined), { id: '@launcher', admin: false }, 'no token at all: nobody, even as @launcher')

  // What the rules make of them: an MR owned by client0, and shutdown.
  t.doesNotThrow(() => server.mrAccess(server.caller('client0', c0.k, c0.a), 'client0', 'verbs.mem.read', 0x100), "client0 reads its own MR")
  t.throws(() => server.mrAccess(server.caller('client1', c0.k, c0.a), 'client0', 'verbs.mem.read', 0x100), { code: ErrorCodes.NOT_AUTHORISED }, 'the impostor does not')
  const c1 = token('client1')
  t.throws(() => server.checkCommand(server.caller('client1', c1.k, c1.a), 'shutdown'), { code: ErrorCodes.NOT_AUTHORISED }, 'client1 may not shut server0 down')
  t.doesNotThrow(() => server.checkCommand(server.caller('@tool-1', adm.k, adm.a), 'shutdown'), 'the admin key may')
  t.same(server.counters, { refused: 2, byType: { 'verbs.mem.read': 1, shutdown: 1 }, byCaller: { 'client1 (key client0)': 1, client1: 1 } }, 'both refusals counted')
})

t.test('auth - without CURVE the caller is the routing id, @-ids are the operator', async (t) => {
  const server = new ControlAuth({ self: 'server0', enforce: true })
  t.same(server.caller('@launcher', undefined, undefined), { id: '@launcher', admin: true, principal: '@launcher' })
  t.same(server.caller('client1', undefined, undefined), { id: 'client1', admin: false, principal: 'client1' })
  t.throws(() => server.checkCommand(server.caller('client1', undefined, undefined), 'fabric.faults.add'), { code: ErrorCodes.NOT_AUTHORISED }, 'fault control: not for a client')
  t.doesNotThrow(() => server.checkCommand(server.caller('client1', undefined, undefined), 'verbs.counters'), 'inspection: open')
  t.equal(server.counters.refused, 1)
})
