import type { Test } from 'tap'
import { EmuError, ErrorCodes } from '../../src/errors.ts'
import type { NodeCommand } from '../../fabric/node-messages.ts'
import type { RdmaCluster } from './rdma-cluster.ts'
import { serverReq } from './odp.ts'

/**
 * Send `type` with a malformed `body` to the server node and check the
 * refusal: ERR_BAD_MESSAGE, naming `field`, never an internal error.
 */
export async function refusedNaming(t: Test, rc: RdmaCluster, type: NodeCommand, body: unknown, field: string): Promise<void> {
  const err = await serverReq(rc)(type, body).then(
    () => undefined,
    (e: unknown) => e,
  )
  t.ok(err instanceof EmuError, `${type} ${JSON.stringify(body, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v))}: refused`)
  const e = err as EmuError
  t.equal(e.code, ErrorCodes.BAD_MESSAGE, `${type}: stable code ${ErrorCodes.BAD_MESSAGE}`)
  t.equal((e.details as { field?: string } | undefined)?.field, field, `${type}: names the field "${field}"`)
  t.ok(e.message.includes(field), `${type}: the message names it too (${e.message})`)
}

/** The server's count of refused bodies (its control plane's `badBodies`). */
export async function badBodies(rc: RdmaCluster): Promise<number> {
  return (await serverReq(rc)('stats')).control.badBodies ?? 0
}
