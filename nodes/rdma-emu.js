#!/usr/bin/env node
// The rdma-emu command. No logic here: run the compiled CLI (dist/, built by
// `npm run build`, which `npm install` and `npm test` run). No TypeScript
// loader: node processes and workers run the same compiled JavaScript.
const main = new URL('../dist/src/cli/main.js', import.meta.url)
try {
  await import(main.href)
} catch (err) {
  if (err?.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes(main.pathname)) {
    process.stderr.write('rdma-emu: the build is missing (dist/src/cli/main.js): run `npm run build` in the package folder\n')
    process.exit(2)
  }
  throw err
}
