// `npm run lint:layers`: the import rules of src/, bench/ and scripts/, checked with dependency-cruiser.
// Every import points down: core (pure: no I/O, importable by clients) ← storage ← log ← auth ← api,
// with the witness (the C2SP witness service: core, storage and the log's key loading) and the mirror
// (the follower of a primary: core, storage and log) beside auth; the
// user-facing tools (simulator, auditor, cli) sit beside the service in src/ and the service never
// imports them. The benchmark (bench/) and the scripts (scripts/: CLI entry points, the scale harness,
// the MongoDB test server) sit beside src/: they may import it, src/ never imports them, and none of
// them imports test code. No module is part of an import cycle. Exits 1 naming each violation.
import { cruise, type IForbiddenRuleType } from 'dependency-cruiser';

const TOOLS = 'src/(simulator|auditor|cli)/';
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
  below('storage', `src/(log|witness|mirror|auth|api)/|${TOOLS}`),
  below('log', `src/(witness|mirror|auth|api)/|${TOOLS}`),
  below('witness', `src/(mirror|auth|api)/|${TOOLS}`),
  below('mirror', `src/(witness|auth|api)/|${TOOLS}`),
  below('auth', `src/(log|witness|mirror|api)/|${TOOLS}`),
  below('api', TOOLS),
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
    exclude: { path: '^(src/api/graphql/generated|bench/(results|tmp)|scripts/mongo-test-server/bin)/' },
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
