#!/usr/bin/env node
// perftest's ib_send_bw: `rdma-emu bench ib_send_bw ARGS...` (see perftest-alias.js).
import { runPerftest } from './perftest-alias.js'
await runPerftest('ib_send_bw')
