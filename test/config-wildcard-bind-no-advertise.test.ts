import t from 'tap'
import { parseConfig } from '../src/config/load-config.ts'
import { runCli, tempDir, writeConfig } from './cluster-helpers.ts'
import { defaultWith, validate } from './config-helpers.ts'

// A wildcard bind (every interface) gives peers no address to dial: it needs
// "advertise", and a wildcard is no address to advertise. Every command that
// loads the configuration refuses it, exit 2, before any process starts.
t.test('config - a wildcard bind without an advertised address is refused', async (t) => {
  const bad = defaultWith((c) => {
    c.nodes[0]!.bind = '0.0.0.0'
    c.nodes[1]!.host = '::'
    c.nodes[2]!.bind = '*'
    c.nodes[2]!.advertise = '0.0.0.0'
  })
  const r = await validate(t, bad)
  t.equal(r.code, 2, 'validate: exit code 2')
  t.same(r.lines, [
    'nodes[0].bind: a wildcard bind ("0.0.0.0") needs "advertise": the IP address or hostname peers dial to reach this node [ERR_CONFIG_WILDCARD_NO_ADVERTISE]',
    'nodes[1].host: a wildcard bind ("::") needs "advertise": the IP address or hostname peers dial to reach this node [ERR_CONFIG_WILDCARD_NO_ADVERTISE]',
    'nodes[2].advertise: expected an address peers can dial (an IP address or a hostname), got the wildcard "0.0.0.0" [ERR_CONFIG_WILDCARD_NO_ADVERTISE]',
  ], 'each node named by path, with the code')

  const dir = tempDir(t)
  const cfg = writeConfig(dir, bad)
  for (const args of [['up', '-c', cfg, '--run-dir', `${dir}/run`], ['node', '--id', 'server0', '-c', cfg, '--run-dir', `${dir}/run`]]) {
    const x = await runCli(args)
    t.equal(x.code, 2, `${args[0]}: exit code 2`)
    t.match(x.stderr, /nodes\[0\]\.bind: a wildcard bind .*\[ERR_CONFIG_WILDCARD_NO_ADVERTISE\]/, `${args[0]}: the same line`)
  }

  const ok = parseConfig(defaultWith((c) => {
    c.nodes[0]!.bind = '0.0.0.0'
    c.nodes[0]!.advertise = 'server0.lab'
    c.nodes[1]!.bind = '*'
    c.nodes[1]!.host = '10.1.2.3'
  }))
  t.same(ok.nodes.slice(0, 2).map((n) => [n.bind, n.advertise]), [['0.0.0.0', 'server0.lab'], ['*', '10.1.2.3']], 'a wildcard with an address to advertise is fine')
})
