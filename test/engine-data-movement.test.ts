import t from 'tap'
import { startEnginePair } from './helpers/engine-pair.ts'
import { dataMovement } from './helpers/data-movement-suite.ts'

// Every operation moves the right bytes, at sizes around the MTU boundaries,
// between two hosts in one process over the loopback transport: the suite of
// rc-data-movement (which runs it over node processes and ZeroMQ), here fast
// enough to run with every engine change.
t.test('engine - data movement', async (t) => {
  await dataMovement(t, await startEnginePair(t))
})
