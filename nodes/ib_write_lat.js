#!/usr/bin/env node
// perftest's ib_write_lat: `rdma-emu bench ib_write_lat ARGS...` (see perftest-alias.js).
import { runPerftest } from './perftest-alias.js'
await runPerftest('ib_write_lat')
