// `npm run lint:layers`: the import rules of src/, bench/ and scripts/, checked with dependency-cruiser.
// Every import points down: core (pure: no I/O, importable by clients) ← storage ← inconsistency (the
// recording of detected inconsistencies, for the witness, a mirror and the peers) ← log ← auth ← api,
// with the witness (the C2SP witness service: core, storage and the log's key loading), witnessing
// (the log submitting its checkpoints to witnesses: core, storage and log) and the mirror (the
// follower of a primary: core, storage, inconsistency and log) beside auth; the
// user-facing tools (simulator, auditor, cli) sit beside the service in src/ and the service never
// imports them. The client (chainlog/client, for applications and browsers) imports the core only, and
// the tools use it; the service never imports it. The benchmark (bench/) and the scripts (scripts/: CLI entry points, the scale harness,
// the MongoDB test server) sit beside src/: they may import it, src/ never imports them, and none of
// them imports test code. No module is part of an import cycle. Exits 1 naming each violation.
import { cruise, type IForbiddenRuleType } from 'dependency-cruiser';

const TOOLS = 'src/(simulator|auditor|cli|client)/';
const below = (layer: string, mayNot: string): IForbiddenRuleType => ({
  name: `${layer}-imports-down`,
  severity: 'error',
  comment: `${layer} may not import ${mayNot}`,
  from: { path: `^src/${layer}/` },
  to: { path: `^(${mayNot})` },
});

const forbidden: IForbiddenRuleType[] = [
  {
    name: 'no-cycle',
    severity: 'error',
    comment: 'a module in an import cycle',
    from: { path: '^(src|bench|scripts)/' },
    to: { circular: true },
  },
  {
    name: 'core-is-pure',
    severity: 'error',
    comment: 'core imports only core, npm packages and node:crypto (hashing and Ed25519)',
    from: { path: '^src/core/' },
    to: { dependencyTypes: ['core'], pathNot: '^crypto$' },
  },
  below('core', 'src/(?!core/)'),
  below('net', 'src/(?!net/)'),
  below('storage', `src/(inconsistency|log|witness|witnessing|mirror|auth|api)/|${TOOLS}`),
  below('inconsistency', `src/(log|witness|witnessing|mirror|auth|api)/|${TOOLS}`),
  below('log', `src/(witness|witnessing|mirror|auth|api)/|${TOOLS}`),
  below('witness', `src/(witnessing|mirror|auth|api)/|${TOOLS}`),
  below('witnessing', `src/(witness|mirror|auth|api)/|${TOOLS}`),
  below('mirror', `src/(witness|witnessing|auth|api)/|${TOOLS}`),
  below('auth', `src/(log|witness|witnessing|mirror|api)/|${TOOLS}`),
  below('api', TOOLS),
  // The client runs in browsers too: the pure core and its own files (npm packages aside), nothing else.
  below('client', 'src/(?!core/|client/|net/)'),
  {
    name: 'client-is-portable',
    severity: 'error',
    comment: 'the client, and net which it imports, import no Node built-in module (browsers have none)',
    from: { path: '^src/(client|net)/' },
    to: { dependencyTypes: ['core'] },
  },
  // The dashboard is browser code: the core and the auditor's verification steps, nothing of the server.
  below('dashboard', 'src/(?!core/|dashboard/|auditor/(checkpoint|proofs|findings|erasure-records)\\.ts$)'),
  {
    name: 'dashboard-is-bundled',
    severity: 'error',
    comment: 'src may not import the dashboard: it is bundled for the browser and served as files',
    from: { path: '^src/(?!dashboard/)' },
    to: { path: '^src/dashboard/' },
  },
  {
    name: 'service-not-on-tools',
    severity: 'error',
    comment: 'src may not import bench/ or scripts/',
    from: { path: '^src/' },
    to: { path: '^(bench|scripts)/' },
  },
  {
    name: 'not-on-tests',
    severity: 'error',
    comment: 'src, bench and scripts may not import test code',
    from: { path: '^(src|bench|scripts)/' },
    to: { path: '^test/' },
  },
];

const result = await cruise(
  ['src', 'bench', 'scripts'],
  {
    validate: true,
    ruleSet: { forbidden },
    tsPreCompilationDeps: true,
    doNotFollow: { path: 'node_modules' },
    exclude: {
      path: '^(src/api/graphql/generated|src/dashboard/generated|src/client/generated|bench/(results|tmp)|scripts/mongo-test-server/bin)/',
    },
  },
  { extensions: ['.ts', '.mts', '.js', '.mjs'] },
  { tsConfig: { fileName: 'tsconfig.json' } },
);
if (typeof result.output === 'string') throw new Error('dependency-cruiser returned text, not a result');
const { violations, totalCruised } = result.output.summary;
for (const v of violations) {
  const cycle = v.cycle ? ` (cycle: ${v.cycle.map((c) => (typeof c === 'string' ? c : c.name)).join(' → ')})` : '';
  console.error(`${v.rule.name}: ${v.from} → ${v.to}${cycle}`);
}
console.log(`layers: ${totalCruised} modules, ${violations.length} violation(s)`);
process.exit(violations.length > 0 ? 1 : 0);
