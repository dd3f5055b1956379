/**
 * Tour step: the headline experiment. The shipped scenario
 * scenarios/truncate-race.json at a short duration: under each pin policy, a
 * client keeps writing through a file-backed MR while the server truncates
 * the file and another file takes the freed blocks. Each policy runs on a
 * two-node cluster of its own (the tour's configuration, that policy on the
 * server); one table compares them.
 */
import { join } from 'node:path'
import { EmuError, ErrorCodes } from '../errors.ts'
import { describeExpectation, formatFindings, formatRuns } from '../scenario/format.ts'
import { loadScenario } from '../scenario/load-scenario.ts'
import { runScenario } from '../scenario/run-scenario.ts'
import { SCENARIOS_DIR } from './cmd-run.ts'
import { displayPath } from './options.ts'
import type { TourStep } from './tour-fabric-rtt.ts'

/** The race's traffic lasts this long here (the scenario file says 1500 ms). */
const TOUR_TRAFFIC_MS = 800
const COLUMNS = ['POLICY', 'FILE MR', 'TRUNCATE', 'MS', 'CORRUPT B', 'VICTIM', 'RDMA OPS', 'RDMA ERRORS', 'LEASE BRK/REV', 'PINS ACQ/REL']

export const truncateRace: TourStep = {
  title: 'a truncate racing live RDMA, under each pin policy (run truncate-race)',
  async run(cluster, out, { signal }) {
    if (!cluster.nodes.some((n) => n.role === 'server') || !cluster.nodes.some((n) => n.role === 'client')) {
      out('(skipped: the cluster needs a server node and a client node)')
      return
    }
    const sc = loadScenario(join(SCENARIOS_DIR, 'truncate-race.json'), cluster.config)
    const runDir = join(cluster.runDir, 'truncate-race')
    out(`client writes 4 KiB RDMA WRITEs through a file MR over 64 KiB of a DAX file for ${TOUR_TRAFFIC_MS} ms; after 200 ms the server`)
    out('truncates the file to 4 KiB and a new file takes the freed blocks. One fresh cluster per policy:')
    out('')
    const result = await runScenario(sc, {
      config: cluster.config, runDir, trafficMs: TOUR_TRAFFIC_MS, signal,
      onRun: ({ policy, index, of, done }) => {
        if (!done) out(`  [${index + 1}/${of}] ${policy} ...`)
      },
    })
    out('')
    out(formatRuns(sc, result.runs, COLUMNS))
    out('')
    out('CORRUPT B: bytes RDMA wrote into blocks the MR\'s file had given up (the server\'s oracle); VICTIM: the file that got them.')
    out('TRUNCATE/MS: what the truncate returned, and when. RDMA ERRORS: failed completions (the first one\'s status) of the writer.')
    out('LEASE BRK/REV: layout-lease breaks / revocations (exclusive-lease never breaks: its truncate fails ETXTBSY). PINS ACQ/REL: page pins taken / released (ODP MRs take none).')
    for (const line of formatFindings(result)) out(line)
    out(`More: rdma-emu run truncate-race (full table, --json), results in ${displayPath(runDir)}`)
    if (!result.ok) {
      const broken = result.runs.flatMap((r) => [...r.problems.map((p) => `${r.policy}: ${p}`), ...r.expectations.filter((e) => !e.held).map(describeExpectation)])
      throw new EmuError(ErrorCodes.NODE_FAILED, `truncate race: ${broken.join('; ')}`)
    }
  },
}
