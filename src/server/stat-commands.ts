/** The server's statistics command: `mem.stats` → MemStatsReply (src/server/server-stats.ts). */
import type { ServerControl } from './server-context.ts'
import { memStats, type MemStatsReply, type StatsSources } from './server-stats.ts'

export function attachStatCommands(control: ServerControl, sources: StatsSources): void {
  control.handle('mem.stats', (): MemStatsReply => memStats(sources))
}
