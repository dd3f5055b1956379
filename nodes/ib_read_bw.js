#!/usr/bin/env node
// perftest's ib_read_bw: `rdma-emu bench ib_read_bw ARGS...` (see perftest-alias.js).
import { runPerftest } from './perftest-alias.js'
await runPerftest('ib_read_bw')
