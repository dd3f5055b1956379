#!/usr/bin/env node
// perftest's ib_atomic_bw: `rdma-emu bench ib_atomic_bw ARGS...` (see perftest-alias.js).
import { runPerftest } from './perftest-alias.js'
await runPerftest('ib_atomic_bw')
