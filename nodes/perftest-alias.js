// perftest's program names (ib_write_bw, ib_read_lat, ...) as commands: each
// ib_<test>.js runs `rdma-emu bench ib_<test> ARGS...`, so a perftest command
// line runs with only the program name changed. No logic here: the compiled
// CLI (dist/) does the work, as for nodes/rdma-emu.js.
const main = new URL('../dist/src/cli/main.js', import.meta.url)

/** Run `rdma-emu bench <program> ...process.argv.slice(2)` and exit with its code. */
export async function runPerftest(program) {
  let cli
  try {
    cli = await import(main.href)
  } catch (err) {
    if (err?.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes(main.pathname)) {
      process.stderr.write(`${program}: the build is missing (dist/src/cli/main.js): run \`npm run build\` in the package folder\n`)
      process.exit(2)
    }
    throw err
  }
  process.exit(await cli.main([process.argv[0], 'rdma-emu', 'bench', program, ...process.argv.slice(2)]))
}
