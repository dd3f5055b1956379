#!/usr/bin/env node
// perftest's ib_write_bw: `rdma-emu bench ib_write_bw ARGS...` (see perftest-alias.js).
import { runPerftest } from './perftest-alias.js'
await runPerftest('ib_write_bw')
