// storage-truncate-server: the seeds' "Process B", as a program on a server
// node. It owns a file, A.dat, on the server's DAX file system; a client
// (storage-truncate-client.mjs) registers it as a file-backed MR ("an STag for
// storage") and RDMA WRITEs into it. While those WRITEs are going, this
// program truncates A.dat to one page, then creates B.dat, which the
// allocator gives the blocks A.dat let go of (LIFO, the dangerous case). What
// happens next is the server's pin policy's call (config `server.policy`):
//
//   unsafe-gup       the truncate proceeds; the NIC keeps writing into the freed
//                    blocks, now B.dat's: silent corruption, victim B.dat
//   deny             the truncate fails with ETXTBSY while the pages are pinned
//   truncate-extend  the size shrinks, but the pinned blocks stay A.dat's until unpinned
//   upstream         the long-term pin of a DAX file is refused (EOPNOTSUPP)
//   layout-lease     the pin is refused without the file's layout lease (EACCES)
//   odp              no pin: the truncate invalidates, later WRITEs past EOF fail
//
// It reports what happened from host.counters() (the pins, the oracle's
// corruption count and victims, the policy's own counters) and from the files
// themselves, prints one JSON line, and throws if the outcome is not what the
// policy is documented to do (README "Pin policies").
//
//   rdma-emu up -c nodes/examples/storage-truncate.unsafe-gup.config.json
//   rdma-emu up -c nodes/examples/storage-truncate.deny.config.json
import { EmuError } from 'rdma-emu'

const PAGE = 4096
const PAGES = 16
const A_FILL = 0x11 // A.dat's bytes before any RDMA
const B_FILL = 0xbb // B.dat's bytes as written by the server

// What each policy must do here: the registration, the truncate, corruption.
const EXPECTED = {
  'unsafe-gup': { registration: 'ok', truncate: 'ok', corruption: true },
  deny: { registration: 'ok', truncate: 'ETXTBSY', corruption: false },
  'truncate-extend': { registration: 'ok', truncate: 'ok', corruption: false },
  upstream: { registration: 'EOPNOTSUPP', truncate: 'ok', corruption: false },
  'layout-lease': { registration: 'EACCES', truncate: 'ok', corruption: false },
  odp: { registration: 'ok', truncate: 'ok', corruption: false },
}

/** An EmuError's errno without its prefix (ERR_ETXTBSY -> ETXTBSY); anything else is rethrown. */
const errno = (err) => {
  if (!(err instanceof EmuError)) throw err
  return err.code.replace(/^ERR_/, '')
}

export default async function (host) {
  const client = host.nodesOf('client')[0]
  const fs = host.fs // the server's own file system, as a local process sees it

  // A.dat: 16 pages on DAX (no page cache: the NIC writes the file's blocks).
  await fs.create('A.dat', { dax: true })
  await fs.write('A.dat', 0, new Uint8Array(PAGES * PAGE).fill(A_FILL))
  await host.send(client, { file: 'A.dat', length: PAGES * PAGE }, 'ready')

  // The client has registered A.dat (or been refused) and its WRITEs are flowing.
  const { data: reg } = await host.recv({ from: client, tag: 'writing' })
  const pinned = (await host.counters()).pins.nr_foll_pin_acquired

  // truncate(2) under the client's RDMA.
  let truncate = 'ok'
  try {
    await fs.truncate('A.dat', PAGE)
  } catch (err) {
    truncate = errno(err)
  }
  // B.dat, created right after: the blocks A.dat freed (if it freed any) are B.dat's now.
  await fs.create('B.dat', { dax: true })
  await fs.write('B.dat', 0, new Uint8Array((PAGES - 1) * PAGE).fill(B_FILL))
  await host.send(client, { truncate }, 'truncated')

  // The client WRITEs on for a while, then tells us what its WRITEs did.
  const { data: writes } = await host.recv({ from: client, tag: 'done' })

  // What the policy did, from the counters and from the files.
  const c = await host.counters()
  const b = await fs.read('B.dat', 0, (PAGES - 1) * PAGE)
  const report = {
    example: 'storage-truncate',
    policy: c.policy.name,
    registration: reg.registration,
    pinsAcquired: pinned,
    truncate,
    sizeAfter: (await fs.stat('A.dat')).size,
    corruptBytes: c.oracle.corruptBytes,
    victims: c.oracle.victims.map((v) => ({ file: v.victim, bytes: v.bytes })),
    bChangedBytes: b.filter((x) => x !== B_FILL).length,
    writes,
    policyCounters: {
      pinRefusals: c.policy.pinRefusals, odpForced: c.policy.odpForced, layoutWaited: c.policy.layoutWaited,
      layoutFailed: c.policy.layoutFailed, blocksKept: c.policy.blocksKept,
    },
  }
  const victims = report.victims.map((v) => `${v.file} (${v.bytes} bytes)`).join(', ') || 'none'
  console.log(`storage server: policy ${report.policy}`)
  console.log(`  A.dat registered by ${client} as a file-backed MR: ${report.registration}; ${pinned} pages long-term pinned`)
  console.log(`  truncate A.dat to ${PAGE} bytes under ${client}'s WRITEs: ${truncate}; A.dat is ${report.sizeAfter} bytes`)
  console.log(`  B.dat, created after: ${report.bChangedBytes} of its ${b.length} bytes changed under it`)
  console.log(`  oracle: ${report.corruptBytes} corrupt bytes; victims: ${victims}`)
  console.log(`  policy counters: ${Object.entries(report.policyCounters).map(([k, v]) => `${k} ${v}`).join(', ')}`)
  console.log(`  ${client}: ${writes.completed} WRITEs completed, ${writes.errors} failed${writes.firstError ? ` (first: ${writes.firstError})` : ''}`)
  console.log(JSON.stringify(report))

  // Is that what this policy is documented to do? (Checked before the client
  // is let go: a failure here ends the cluster with this node named.)
  const want = EXPECTED[report.policy]
  if (!want) throw new Error(`no expectation for policy ${report.policy}`)
  const problems = []
  if (report.registration !== want.registration) problems.push(`registration ${report.registration}, expected ${want.registration}`)
  if (truncate !== want.truncate) problems.push(`truncate ${truncate}, expected ${want.truncate}`)
  if (want.corruption) {
    if (!(report.corruptBytes > 0 && report.victims.some((v) => v.file === 'B.dat') && report.bChangedBytes > 0)) problems.push('expected the oracle to count corruption of B.dat, and B.dat to show it')
  } else if (report.corruptBytes !== 0 || report.bChangedBytes !== 0) {
    problems.push(`expected no corruption, got ${report.corruptBytes} corrupt bytes (B.dat: ${report.bChangedBytes} changed)`)
  }
  if (truncate === 'ETXTBSY' && report.sizeAfter !== PAGES * PAGE) problems.push(`a refused truncate changed the size to ${report.sizeAfter}`)
  if (truncate === 'ok' && report.sizeAfter !== PAGE) problems.push(`the truncate left A.dat ${report.sizeAfter} bytes`)
  if (problems.length) throw new Error(`policy ${report.policy}: ${problems.join('; ')}`)
  console.log(`  as documented for ${report.policy}`)
  await host.send(client, null, 'reported')
}
