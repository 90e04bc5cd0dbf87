// `npm run cluster -- --fork`, as a user runs it (the built service, tsx for the script): a primary
// witnessed by two mirrors under a 2-of-2 policy, then a forked primary with the same key that both
// witnesses refuse, each recording evidence that the auditor CLI proves offline.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../support/service-process.js';

function runCluster(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      join(REPO_ROOT, 'node_modules/.bin/tsx'),
      ['scripts/cluster.ts', ...args],
      { cwd: REPO_ROOT, timeout: 300_000, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr }),
    );
  });
}

describe('npm run cluster', () => {
  it('witnesses and mirrors every log, and with --fork both witnesses prove the fork', { timeout: 320_000 }, async () => {
    const { code, stdout, stderr } = await runCluster(['--seconds', '5', '--apps', '2', '--fork']);
    expect(stderr).toBe('');
    expect(stdout).toMatch(/^primary +http:\/\/127\.0\.0\.1:\d+/m);
    expect(stdout).toMatch(/^w1 \(mirror \+ witness\) +http:\/\/127\.0\.0\.1:\d+/m);
    expect(stdout).toMatch(/^server verifier key +chainlog\.cluster\+[0-9a-f]{8}\+/m);
    expect(stdout).toMatch(/^witness w2 +w2\.cluster\+[0-9a-f]{8}\+/m);
    expect(stdout).toContain('every log has a witnessed checkpoint (2 of 2 cosignatures) and both mirrors follow the primary');
    for (const w of ['w1', 'w2']) {
      expect(stdout).toMatch(new RegExp(`^${w}: recorded [A-Z_]+ \\(detected by WITNESS\\)`, 'm'));
    }
    expect(stdout.match(/→ exit 0: PROVEN/g)).toHaveLength(2);
    expect(code).toBe(0);
  });

  it('refuses a bad option with exit 2, naming it', async () => {
    const { code, stderr } = await runCluster(['--apps', '0']);
    expect(code).toBe(2);
    expect(stderr).toContain('--apps must be at least 1');
  });
});
