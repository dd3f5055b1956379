#!/usr/bin/env node
// perftest's ib_atomic_lat: `rdma-emu bench ib_atomic_lat ARGS...` (see perftest-alias.js).
import { runPerftest } from './perftest-alias.js'
await runPerftest('ib_atomic_lat')
