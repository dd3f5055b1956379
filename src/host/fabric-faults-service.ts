/**
 * The fabric.faults.* commands of a node: add, remove and clear its fault
 * rules (fabric/fault-rules.ts, applied by its device to data packets and by
 * its control plane to control frames), and read what they did.
 *
 * - fabric.faults.add { rule }: EEXIST when a rule has the same id;
 * - fabric.faults.remove { id }: ENOENT when there is none (its counters stay readable);
 * - fabric.faults.clear: every rule and counter gone;
 * - fabric.faults.counters → { rules: [{ id, links: [{ from, to, counters, decisions }] }], icrcErrors }.
 */
import type { ControlPlane } from '../../fabric/control-plane.ts'
import type { FaultRule } from '../../fabric/fault-rules.ts'
import type { RdmaDevice } from '../verbs/device.ts'

const TYPES = ['fabric.faults.add', 'fabric.faults.remove', 'fabric.faults.clear', 'fabric.faults.counters'] as const

/** Register the commands; returns the function that unregisters them. */
export function attachFabricFaults(control: ControlPlane, device: RdmaDevice): () => void {
  const rules = device.rules
  control.faults = rules
  control.handle('fabric.faults.add', (b) => {
    rules.add(b.rule as FaultRule)
    return {}
  })
  control.handle('fabric.faults.remove', (b) => {
    rules.remove(b.id)
    return {}
  })
  control.handle('fabric.faults.clear', () => {
    rules.clear()
    return {}
  })
  control.handle('fabric.faults.counters', () => ({ ...rules.report(), icrcErrors: device.counters.icrcErrors }))
  return () => {
    for (const t of TYPES) control.unhandle(t)
    if (control.faults === rules) control.faults = undefined
  }
}
