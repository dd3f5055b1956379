#!/usr/bin/env node
// perftest's ib_send_lat: `rdma-emu bench ib_send_lat ARGS...` (see perftest-alias.js).
import { runPerftest } from './perftest-alias.js'
await runPerftest('ib_send_lat')
