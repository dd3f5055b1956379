// Only for the TypeScript sources (tests that run the worker data path in the
// tap process): worker threads cannot load a TypeScript entry under Node 20's
// loader hooks, so this JavaScript entry registers tsx in the worker, then
// loads the real one. The build loads its compiled entry directly, without it.
import { register } from 'tsx/esm/api'
import { workerData } from 'node:worker_threads'

register()
const mod = await import(workerData.entry)
export default mod.default
