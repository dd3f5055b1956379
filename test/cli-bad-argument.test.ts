import t from 'tap'
import { runCli } from './cluster-helpers.ts'

t.test('cli - bad arguments exit 2 naming the argument', async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [['validate', '--bogus'], /unknown option '--bogus'/],
    [['up', '--ready-timeout', 'soon'], /--ready-timeout <ms>' argument 'soon' is invalid/],
    [['node'], /required option '--id <id>' not specified/],
    [['node', '--id', 'nope'], /--id: no node "nope"/],
    [['frobnicate'], /unknown command 'frobnicate'/],
  ]
  for (const [args, message] of cases) {
    const r = await runCli(args)
    t.equal(r.code, 2, `rdma-emu ${args.join(' ')}: exit 2`)
    t.match(r.stderr, message, `rdma-emu ${args.join(' ')}: message names the argument`)
  }
})
