// `npm run verify -- --evidence FILE --key VKEY` as a user runs it (scripts/verify.ts under tsx):
// exit 0 with what the evidence proves, 1 for evidence that proves nothing, 2 for a file or key that
// cannot be read. The evidence comes from the core vectors (test/core/vectors/inconsistency-evidence.json).
import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { rawPublicKey, verifierKeyString } from '../../src/core/index.js';
import { REPO_ROOT } from '../support/service-process.js';

const vectors = JSON.parse(readFileSync(new URL('../core/vectors/inconsistency-evidence.json', import.meta.url), 'utf8')) as {
  vkey: string;
  vectors: Array<{ name: string; evidence: unknown }>;
};
const work = mkdtempSync(join(tmpdir(), 'chainlog-verify-evidence-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function file(name: string, content: string | Uint8Array): string {
  const path = join(work, name);
  writeFileSync(path, content);
  return path;
}
const evidenceOf = (name: string) => JSON.stringify(vectors.vectors.find((v) => v.name === name)!.evidence);

function verify(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'scripts/verify.ts', ...args],
      { cwd: REPO_ROOT, timeout: 60_000 },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
    );
  });
}

describe('verify --evidence', () => {
  it('exits 0 and says what a proven fork is', async () => {
    const path = file('proven.json', evidenceOf('inconsistent prefix (6 to 12)'));
    const run = await verify(['--evidence', path, '--key', vectors.vkey]);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.stdout).toMatch(
      /^PROVEN \(inconsistent-prefix\): example\.com\/forked signed a checkpoint of size 12 whose first 6 leaves/,
    );
    const json = await verify(['--evidence', path, '--key', vectors.vkey, '--json']);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: true, proves: true, kind: 'inconsistent-prefix' });
  });

  it('exits 1 for an unproven observation, a proof that proves nothing, or another key', async () => {
    const unproven = await verify([
      '--evidence',
      file('unproven.json', evidenceOf('unproven observation')),
      '--key',
      vectors.vkey,
    ]);
    expect(unproven.code).toBe(1);
    expect(unproven.stdout).toMatch(/^NOT PROVEN \(unproven\): an unproven observation \(consistency-proof-fails\)/);
    const garbage = await verify([
      '--evidence',
      file('garbage.json', evidenceOf('prefix: a proof that does not reconstruct the larger root (garbage)')),
      '--key',
      vectors.vkey,
    ]);
    expect(garbage.code).toBe(1);
    expect(garbage.stdout).toContain("does not reconstruct the larger checkpoint's root");
    const otherKey = verifierKeyString('example.com/forked', rawPublicKey(generateKeyPairSync('ed25519').privateKey));
    const other = await verify(['--evidence', file('proven2.json', evidenceOf('same size, different roots')), '--key', otherKey]);
    expect(other.code).toBe(1);
    expect(other.stdout).toContain('is not a checkpoint of example.com/forked signed by the given key');
  });

  it('exits 2 for a corrupted, missing or foreign file, and for a key that is not one', async () => {
    const proven = evidenceOf('same size, different roots');
    const cases: Array<[string, string[], RegExp]> = [
      ['truncated', ['--evidence', file('cut.json', proven.slice(0, 100)), '--key', vectors.vkey], /not JSON/],
      [
        'another format',
        ['--evidence', file('v9.json', proven.replace('/v1"', '/v9"')), '--key', vectors.vkey],
        /format: must be/,
      ],
      ['not UTF-8', ['--evidence', file('bin.json', Uint8Array.of(0x7b, 0xff, 0x7d)), '--key', vectors.vkey], /not UTF-8/],
      ['missing', ['--evidence', join(work, 'nope.json'), '--key', vectors.vkey], /ENOENT/],
      ['bad key', ['--evidence', file('ok.json', proven), '--key', 'not-a-key'], /--key is not a verifier key/],
      ['no key', ['--evidence', file('ok2.json', proven)], /--key is required/],
    ];
    for (const [name, args, message] of cases) {
      const run = await verify(args);
      expect(run.code, name).toBe(2);
      expect(run.stderr, name).toMatch(message);
    }
  });
});
