#!/usr/bin/env node
// The rdma-emu command. No logic here: load the TypeScript loader, run the CLI.
import { register } from 'tsx/esm/api'

register()
await import('../src/cli/main.ts')
