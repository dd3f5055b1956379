#!/usr/bin/env node
// perftest's ib_read_lat: `rdma-emu bench ib_read_lat ARGS...` (see perftest-alias.js).
import { runPerftest } from './perftest-alias.js'
await runPerftest('ib_read_lat')
