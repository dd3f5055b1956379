import t from 'tap'
import { EmuError, ErrorCodes } from '../src/errors.ts'
import { parseConfig } from '../src/config/load-config.ts'
import { defaultWith, validate } from './config-helpers.ts'

// libzmq binds an IP address or a wildcard, never a hostname: a node that
// would bind one is refused before anything starts, naming the setting that
// says so (bind, or host when host is bind and advertise both).
t.test('config - a bind to a hostname is refused', async (t) => {
  const r = await validate(t, defaultWith((c) => {
    c.nodes[0]!.bind = 'server1.lab'
    c.nodes[1]!.host = 'client0.lab'
    // A hostname to advertise, with an IP address to bind: what works.
    c.nodes[2]!.bind = '127.0.0.1'
    c.nodes[2]!.advertise = 'localhost'
  }))
  t.equal(r.code, 2, 'exit code 2')
  t.same(r.lines, [
    'nodes[0].bind: expected an IP address or a wildcard (0.0.0.0, ::, *) to bind, got "server1.lab": libzmq binds no hostname; put the hostname in "advertise" [ERR_CONFIG_BIND_HOSTNAME]',
    'nodes[1].host: expected an IP address or a wildcard (0.0.0.0, ::, *) to bind, got "client0.lab": libzmq binds no hostname; give "bind" (a local IP address or a wildcard) and "advertise" (the hostname peers dial) [ERR_CONFIG_BIND_HOSTNAME]',
  ], 'one line per node that binds a hostname, naming its path and the code')

  const err = (() => {
    try {
      parseConfig(defaultWith((c) => (c.nodes[2]!.bind = 'eth0')))
    } catch (e) {
      return e
    }
  })()
  t.ok(err instanceof EmuError, 'parseConfig throws an EmuError')
  t.equal((err as EmuError).code, ErrorCodes.CONFIG_INVALID)
  t.same((err as EmuError & { details: { codes: string[] } }).details.codes, [ErrorCodes.CONFIG_BIND_HOSTNAME], 'the problem carries its own code')

  const ok = parseConfig(defaultWith((c) => {
    c.nodes[0]!.host = 'server0.lab'
    c.nodes[0]!.bind = '10.0.0.1'
  }))
  t.same([ok.nodes[0]!.bind, ok.nodes[0]!.advertise], ['10.0.0.1', 'server0.lab'], 'host with bind: host is what peers dial')
})
