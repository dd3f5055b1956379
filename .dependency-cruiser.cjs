/**
 * The layering rules `npm run lint` checks (dependency-cruiser). Type-only
 * imports count: a cycle through types is still a cycle in the design.
 */
const UPPER = '^src/(host|launcher|cli|bench|scenario|api)/|^src/index[.]ts$'

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-cycles',
      comment: 'Modules form a DAG: no import cycle, direct or through other modules, type-only imports included.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'lower-layers-stay-low',
      comment: 'The fabric, the RC engine, the memory model and the verbs objects never import process plumbing, the launcher, the CLI, bench, scenario or the public API (src/api, src/index.ts).',
      severity: 'error',
      from: { path: '^(fabric/|src/(engine|memory|verbs)/)' },
      to: { path: UPPER },
    },
    {
      name: 'server-and-workers-below-the-host',
      comment: "The server host's domain and the data-path workers are used by the host process, and import none of the upper layers.",
      severity: 'error',
      from: { path: '^src/(server|workers)/' },
      to: { path: UPPER },
    },
    {
      name: 'bench-and-scenario-below-the-cli',
      comment: 'bench and scenario are clients of the library; the CLI drives them, never the other way round.',
      severity: 'error',
      from: { path: '^src/(bench|scenario|launcher|host)/' },
      to: { path: '^src/cli/' },
    },
    {
      name: 'product-never-imports-tests',
      severity: 'error',
      from: { path: '^(src|fabric|nodes)/' },
      to: { path: '^test/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    includeOnly: '^(src|fabric|nodes|test)/',
  },
}
