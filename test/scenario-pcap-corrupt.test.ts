import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { runScenario } from './helpers/scenario-run.ts'
import { TWO_CLIENT_CONFIG } from './helpers/fault-run.ts'

// `rdma-emu run --pcap` of a short faulty run: the merged capture decodes in
// tshark as RoCEv2 with no malformed frame apart from the corrupted ones,
// which the ICRC check (fabric/roce-icrc.lua, Wireshark does not verify the
// ICRC itself) flags: as many as the fabric corrupted.
const LUA = fileURLToPath(new URL('../fabric/roce-icrc.lua', import.meta.url))
const probe = spawnSync('tshark', ['--version'], { encoding: 'utf8' })
const skip = probe.error || probe.status !== 0 ? 'tshark not on PATH' : false
const DISABLED = ['rpcordma', 'smb_direct', 'nvme-rdma', 'iser', 'smc', 'lnet', 'infiniband_sdp', 'fcoib', 'drbd']

const scenario = {
  name: 'corrupt-capture',
  policies: ['deny'],
  steps: [
    { do: 'registerMemory', as: 'm', bytes: 16384, access: ['localWrite', 'remoteWrite', 'remoteRead', 'remoteAtomic'] },
    { do: 'netem', id: 'flips', corrupt: 0.02, loss: 0.01 },
    { do: 'traffic', id: 'a', mr: 'm', op: 'mixed', mix: { write: 2, read: 2, fetchAdd: 1 }, size: 256, window: 8, count: 600, span: 8192, atomicOffset: 8192, qp: { mtu: 256, timeout: 13 } },
  ],
}

t.test('run --pcap: tshark decodes every frame; only the corrupted ones fail the ICRC check', { skip }, async (t) => {
  const pcap = join(t.testdir({}), 'run.pcap')
  const r = await runScenario(t, scenario, ['--pcap', pcap, '--json'], { config: TWO_CLIENT_CONFIG })
  t.equal(r.code, 0, `exit 0 ${r.stderr}`)
  t.ok(existsSync(pcap), 'the capture is written')
  const m = r.json.runs[0].metrics
  t.ok(m.faultsCorrupted > 0, `${m.faultsCorrupted} packets corrupted`)
  t.equal(m.icrcDrops, m.faultsCorrupted, 'the receivers dropped exactly those')
  const x = spawnSync('tshark', [
    ...DISABLED.flatMap((p) => ['--disable-protocol', p]), '-X', `lua_script:${LUA}`, '-r', pcap, '-T', 'fields', '-E', 'separator=|', '-E', 'occurrence=a',
    '-e', 'frame.number', '-e', 'udp.dstport', '-e', 'roce_icrc.status', '-e', '_ws.malformed',
  ], { encoding: 'utf8', maxBuffer: 256 << 20 })
  t.equal(x.status, 0, `tshark exit status ${x.stderr.slice(0, 200)}`)
  const rows = x.stdout.trim().split('\n').map((l) => l.split('|'))
  t.ok(rows.length > 1000, `${rows.length} frames`)
  const flagged = rows.filter((row) => row[2] === '0')
  t.equal(flagged.length, m.faultsCorrupted, 'the ICRC check flags as many frames as the fabric corrupted')
  t.same(rows.filter((row) => row[2] !== '0' && row[2] !== '1').map((row) => row[0]), [], 'every other frame is RoCEv2 with a good ICRC')
  t.same(rows.filter((row) => row[3] !== '' && row[2] !== '0').map((row) => row[0]), [], 'no malformed frame apart from the corrupted ones')
})
