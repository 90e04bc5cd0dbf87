// `npm run verify -- --receipt FILE --event FILE --key KEY`: its options, and its exit codes and messages
// for a receipt that does not verify and for files it cannot read.
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseVerifyReceiptArgs } from '../../src/auditor/receipt-options.js';
import {
  createSigner,
  formatTime,
  formatTlogProof,
  leafHashHex,
  rawPublicKey,
  signCheckpoint,
  fromHex,
  verifierKeyString,
  ZERO_HASH_HEX,
} from '../../src/core/index.js';

const REPO = join(import.meta.dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'chainlog-verify-receipt-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('verify --receipt options', () => {
  it('needs --receipt, --event and --key (the key may come from CHAINLOG_VERIFIER_KEY)', () => {
    expect(parseVerifyReceiptArgs(['--receipt', 'r', '--event', 'e', '--key', 'k'], {})).toEqual({
      help: false,
      options: { receipt: 'r', event: 'e', key: 'k', origin: undefined, json: false },
    });
    expect(parseVerifyReceiptArgs(['--receipt', 'r', '--event', 'e'], { CHAINLOG_VERIFIER_KEY: 'env' })).toMatchObject({
      options: { key: 'env' },
    });
    expect(parseVerifyReceiptArgs(['--receipt', 'r', '--key', 'k'], {})).toEqual({
      help: false,
      error: '--event is required with --receipt',
    });
    expect(parseVerifyReceiptArgs(['--receipt', 'r', '--event', 'e', '--key', 'k', '--app', 'x'], {})).toMatchObject({
      error: expect.stringContaining("'--app'"),
    });
  });
});

describe('npm run verify -- --receipt', () => {
  const keys = generateKeyPairSync('ed25519');
  const vkey = verifierKeyString('chainlog.local', rawPublicKey(keys.publicKey));
  const event = {
    sourceAppId: 'app',
    seq: 0,
    prevHash: ZERO_HASH_HEX,
    eventType: 'e',
    timestamp: formatTime(1_700_000_000_000),
    receivedAt: formatTime(1_700_000_000_001),
    payload: { a: 1 },
  };
  const origin = 'chainlog.local/app';
  const note = signCheckpoint({ origin, size: 1, rootHash: fromHex(leafHashHex(event)) }, createSigner(origin, keys.privateKey));
  writeFileSync(join(dir, 'r.tlog-proof'), formatTlogProof({ index: 0, hashes: [], checkpoint: note }));
  writeFileSync(join(dir, 'r-index.tlog-proof'), formatTlogProof({ index: 1, hashes: [], checkpoint: note }));
  writeFileSync(join(dir, 'e.json'), JSON.stringify({ ...event, hash: leafHashHex(event), id: 'app/0' }));
  writeFileSync(join(dir, 'not-json.json'), '{');
  const run = (...args: string[]) => spawnSync('npx', ['tsx', 'scripts/verify.ts', ...args], { cwd: REPO, encoding: 'utf8' });

  it('exits 0 for a good receipt, 1 naming the part for a bad one, 2 for a file it cannot read', () => {
    const ok = run('--receipt', join(dir, 'r.tlog-proof'), '--event', join(dir, 'e.json'), '--key', vkey, '--json');
    expect(ok.status, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ ok: true, origin, index: 0, treeSize: 1 });

    const badIndex = run('--receipt', join(dir, 'r-index.tlog-proof'), '--event', join(dir, 'e.json'), '--key', vkey);
    expect(badIndex.status).toBe(1);
    expect(badIndex.stderr).toContain('receipt REJECTED (index): the receipt is for index 1, the event is at seq 0');

    const badJson = run('--receipt', join(dir, 'r.tlog-proof'), '--event', join(dir, 'not-json.json'), '--key', vkey);
    expect(badJson.status).toBe(1);
    expect(badJson.stderr).toContain('receipt REJECTED (event): the event file is not JSON');

    const otherOrigin = run(
      '--receipt',
      join(dir, 'r.tlog-proof'),
      '--event',
      join(dir, 'e.json'),
      '--key',
      vkey,
      '--origin',
      'elsewhere',
    );
    expect(otherOrigin.status).toBe(1);
    expect(otherOrigin.stderr).toContain('receipt REJECTED (checkpoint)');

    const missing = run('--receipt', join(dir, 'missing'), '--event', join(dir, 'e.json'), '--key', vkey);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain('verify: --receipt');
  }, 120_000);
});
