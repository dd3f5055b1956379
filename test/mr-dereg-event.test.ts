import t from 'tap'
import { ContiguousMemory } from '../src/memory/region-memory.ts'
import { MrState, MrTable, MrWord, type DeregCause, type Mr } from '../src/memory/stag.ts'
import { Access } from '../src/verbs/constants.ts'

// Deregistration is an event of the MR table: whoever deregisters, listeners
// hear of it once, with the cause, after the STag stopped resolving, so what
// backs the MR (pins, frames) may be released; nothing has to scan for freed MRs.
t.test('mr - every deregistration is an event, with its cause, after the MR is dead', async (t) => {
  const mrs = new MrTable()
  const seen: Array<{ mr: Mr; cause: DeregCause; resolves: boolean; live: number; state: number }> = []
  const off = mrs.onDeregister((mr, cause) => {
    seen.push({ mr, cause, resolves: mrs.byStag(mr.stag) !== undefined, live: Atomics.load(mr.live, MrWord.LIVE), state: mr.state })
  })
  const a = mrs.register(1, new ContiguousMemory(new Uint8Array(64)), Access.LOCAL_WRITE)
  const b = mrs.register(1, new ContiguousMemory(new Uint8Array(64)), Access.LOCAL_WRITE, undefined, 'peer1')
  mrs.deregister(a)
  mrs.deregister(b, 'owner-gone')
  t.same(seen.map((s) => [s.mr, s.cause]), [[a, 'dereg'], [b, 'owner-gone']], 'one event per deregistration, with its cause (dereg by default)')
  t.ok(seen.every((s) => !s.resolves && s.live === 0 && s.state === MrState.FREE), 'the STag no longer resolves and the MR is dead when the listener runs')
  t.throws(() => mrs.deregister(a), 'a second deregistration is refused')
  t.equal(seen.length, 2, '... and is no event')
  off()
  mrs.deregister(mrs.register(1, new ContiguousMemory(new Uint8Array(64)), Access.LOCAL_WRITE))
  t.equal(seen.length, 2, 'an unsubscribed listener hears nothing')
})
