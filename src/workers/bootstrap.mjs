// Worker threads cannot load a TypeScript entry under Node 20's loader hooks:
// this JavaScript entry registers tsx in the worker, then loads the real one.
import { register } from 'tsx/esm/api'
import { workerData } from 'node:worker_threads'

register()
const mod = await import(workerData.entry)
export default mod.default
