import t from 'tap'
import { startRdmaCluster } from './helpers/rdma-cluster.ts'
import { dataMovement } from './helpers/data-movement-suite.ts'

// Every operation moves the right bytes, at sizes around the MTU boundaries,
// between the test process and a real server node process over the ZeroMQ
// fabric (the server's memory and data path are the node's own). The same
// suite runs in one process in engine-data-movement.
t.test('rc - data movement over the ZeroMQ fabric', async (t) => {
  await dataMovement(t, await startRdmaCluster(t))
})
