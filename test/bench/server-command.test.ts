import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../../bench/engines.js';
import { SERVER_NODE_ARGS } from '../../bench/server.js';

describe('the benchmark server command', () => {
  it('is what `npm start` runs, so the figures are those of the service as users start it', () => {
    const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    // `exec`: the service replaces npm's shell, so a supervisor's signal reaches it.
    expect(pkg.scripts.start).toBe(['exec', 'node', ...SERVER_NODE_ARGS].join(' '));
  });
});
