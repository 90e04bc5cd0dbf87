// `npm ci` on the documented Node installs quietly, and every documented script works from a fresh
// clone. Installing takes minutes, so this checks what decides it: the engines of every locked package
// (npm prints EBADENGINE for each one that excludes the running Node) and the scripts' order.
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

const require = createRequire(import.meta.url);
const semver = require('semver') as {
  satisfies(version: string, range: string): boolean;
  minVersion(range: string): { version: string } | null;
};
const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
const lock = JSON.parse(readFileSync(new URL('../../package-lock.json', import.meta.url), 'utf8'));

describe('install', () => {
  it('locks no package that refuses the oldest Node the project supports (no EBADENGINE on npm ci)', () => {
    const oldest = semver.minVersion(pkg.engines.node)!.version;
    const refusing = Object.entries(lock.packages as Record<string, { version?: string; engines?: { node?: string } }>)
      .filter(([path, p]) => path !== '' && typeof p.engines?.node === 'string' && !semver.satisfies(oldest, p.engines.node))
      .map(([path, p]) => `${path}@${p.version} wants node ${p.engines!.node}`);
    expect(refusing, `packages refusing Node ${oldest}`).toEqual([]);
  });

  it("applies the dependencies' patches after every install, and fails the install where one does not apply", () => {
    // npm runs the root package's postinstall after `npm ci` and `npm install`.
    expect(pkg.scripts.postinstall).toBe('patch-package --patch-dir scripts/patches --error-on-fail');
    const patches = readdirSync(new URL('../../scripts/patches', import.meta.url)).filter((f) => f.endsWith('.patch'));
    expect(patches.length).toBeGreaterThan(0);
    // Each patch names the exact version it was made for, the version the lockfile installs.
    for (const patch of patches) {
      const [, name, version] = /^(.+)\+(\d+\.\d+\.\d+)\.patch$/.exec(patch)!;
      expect(lock.packages[`node_modules/${name}`]?.version, patch).toBe(version);
      expect(pkg.dependencies[name!] ?? pkg.devDependencies[name!], patch).toBe(version);
    }
  });

  it('generates the GraphQL types before any script that type-checks or tests', () => {
    expect(pkg.scripts.pretypecheck).toBe('npm run codegen');
    expect(pkg.scripts.test).toMatch(/^npm run codegen && /);
  });

  it('`npm start` execs node, so the signal a supervisor sends to npm reaches the service', () => {
    expect(pkg.scripts.start).toMatch(/^exec node /);
  });

  it('`npm start` runs the built service, built first (a fresh clone has no dist/), incrementally', () => {
    expect(pkg.scripts.prestart).toBe('npm run build');
    // The GraphQL types first: the compile type-checks against them; then the dashboard's bundle.
    expect(pkg.scripts.build).toBe(
      'graphql-codegen --config codegen.ts && tsc -b tsconfig.build.json && tsx scripts/build-dashboard.ts',
    );
    expect(pkg.scripts.codegen).toBe('graphql-codegen --config codegen.ts');
    expect(pkg.scripts.start).toBe('exec node --max-semi-space-size=32 --no-allocation-site-pretenuring dist/main.js');
    // The tools that start the built service build it first too.
    expect(pkg.scripts.prebench).toBe('npm run build');
    expect(pkg.scripts.prescale).toBe('npm run build');
  });

  it("changes one V8 flag at run time, before any worker starts: the main thread's young generation, so workers keep their resourceLimits", () => {
    // A flag that sizes a heap is process-wide and overrides a worker's resourceLimits. `npm start` and the
    // image size the main thread's young generation; the service clears that flag before its first worker
    // (test/young-generation.test.ts shows what the clearing does), and sets no other.
    const sources = readdirSync(new URL('../../src', import.meta.url), { recursive: true, encoding: 'utf8' }).filter((f) =>
      f.endsWith('.ts'),
    );
    expect(sources.length).toBeGreaterThan(50);
    const changing = sources.filter((f) =>
      /setFlagsFromString/.test(readFileSync(new URL(`../../src/${f}`, import.meta.url), 'utf8')),
    );
    expect(changing).toEqual(['young-generation.ts']);
    const main = readFileSync(new URL('../../src/main.ts', import.meta.url), 'utf8');
    const cleared = main.indexOf('\nleaveWorkersTheirYoungGeneration();');
    expect(cleared).toBeGreaterThan(0);
    expect(cleared).toBeLessThan(main.indexOf('await startChainlog('));
    // The image runs what `npm start` runs (test/deploy/compose.test.ts).
    expect(pkg.scripts.start).toMatch(/ --max-semi-space-size=32 --no-allocation-site-pretenuring dist\/main\.js$/);
    for (const command of [pkg.scripts.start, readFileSync(new URL('../../Dockerfile', import.meta.url), 'utf8')]) {
      expect(command).not.toMatch(/--max-old-space-size|--max-heap-size|--min-semi-space-size/);
    }
  });
});
