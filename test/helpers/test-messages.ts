import * as v from 'valibot'
import { ControlPlane, type ControlPlaneOptions } from '../../fabric/control-plane.ts'
import { command } from '../../fabric/message-schema.ts'
import type { Transport } from '../../fabric/transport.ts'

/** Any body, any reply: the control plane's own tests exercise the protocol core, not the node's table. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const loose = () => command<any>()(v.any())

/** The message table of the control plane's own tests. */
export const TestMessages = {
  echo: loose(), 'slow-add': loose(), whoami: loose(), never: loose(), busy: loose(), bug: loose(), ok: loose(),
  'no-such-type': loose(), seq: loose(), end: loose(), ping: loose(),
}

/** A control plane over `transport` speaking the test table. */
export function testControl(transport: Transport, opts: ControlPlaneOptions = {}): ControlPlane<typeof TestMessages> {
  return new ControlPlane<typeof TestMessages>(transport, { ...opts, messages: TestMessages })
}
