// The reporter on a real SQLite store: it refuses evidence that claims more than it proves (nothing is
// recorded), records and announces a new inconsistency once, survives a failing listener, and names
// the source application of this server's own origins. Also the PEERS_FILE parser's refusals.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseVerifierKey } from '../../src/core/index.js';
import { parseEvidence } from '../../src/core/inconsistency/evidence.js';
import { InconsistencyReporter, OverclaimedEvidenceError, sourceAppIdOfOrigin } from '../../src/inconsistency/reporter.js';
import type { InconsistencyRecord } from '../../src/storage/inconsistency-store.js';
import { SqliteStorage } from '../../src/storage/sqlite/sqlite-storage.js';
import { loadPeersFile, parsePeersFile, PeersFileError } from '../../src/witness/peer-comparator.js';
import { vectors, VKEY } from '../core/inconsistency/vectors.js';

let dir: string;
let storage: SqliteStorage;
let registry: Registry;
let reporter: InconsistencyReporter;
const trusted = parseVerifierKey(VKEY);
const vector = (name: string) => parseEvidence(vectors().find((v) => v.name === name)!.evidence);

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'chainlog-reporter-'));
  storage = new SqliteStorage({ path: join(dir, 'log.db') });
  await storage.init();
  registry = new Registry();
  reporter = new InconsistencyReporter({
    store: storage.inconsistencies,
    logger: pino({ level: 'silent' }),
    registry,
    sourceAppIdOf: sourceAppIdOfOrigin('example.com'),
    now: () => 1_700_000_000_000,
  });
});
afterEach(async () => {
  await storage.close();
  rmSync(dir, { recursive: true, force: true });
});

const count = async () =>
  (await registry.getSingleMetric('chainlog_inconsistencies_total')!.get()).values.reduce((n, v) => n + v.value, 0);

describe('InconsistencyReporter', () => {
  it('records, counts and announces a new inconsistency once', async () => {
    const seen: InconsistencyRecord[] = [];
    reporter.onRecorded(() => {
      throw new Error('a failing listener');
    });
    reporter.onRecorded((r) => seen.push(r));
    const evidence = vector('same size, different roots');
    const first = await reporter.report({ evidence, detectedBy: 'peer', source: 'http://peer/witness', trusted });
    expect(first).toMatchObject({
      added: true,
      record: { kind: 'same-size-different-roots', proven: true, sourceAppId: 'forked', detectedAt: 1_700_000_000_000 },
    });
    const again = await reporter.report({ evidence, detectedBy: 'witness', source: 'w', trusted });
    expect(again.added).toBe(false);
    expect(seen.map((r) => r.id)).toEqual([first.record.id]);
    expect(await count()).toBe(1);
    expect(await storage.inconsistencies.list({ limit: 5 })).toEqual([first.record]);
  });

  it('records an unproven observation as not proven', async () => {
    const { record } = await reporter.report({
      evidence: vector('unproven observation'),
      detectedBy: 'mirror',
      source: 'm',
      trusted,
    });
    expect(record).toMatchObject({ kind: 'unproven', proven: false });
  });

  it('refuses evidence that claims a fork it does not prove, and records nothing', async () => {
    const garbage = vector('prefix: a proof that does not reconstruct the larger root (garbage)');
    await expect(reporter.report({ evidence: garbage, detectedBy: 'peer', source: 'p', trusted })).rejects.toThrow(
      OverclaimedEvidenceError,
    );
    expect(await storage.inconsistencies.list({ limit: 5 })).toEqual([]);
    expect(await count()).toBe(0);
  });

  it("names the source application of this server's origins only", () => {
    const of = sourceAppIdOfOrigin('chainlog.local');
    expect([of('chainlog.local/shop'), of('chainlog.local/'), of('chainlog.localx/shop'), of('example.com/a')]).toEqual([
      'shop',
      null,
      null,
      null,
    ]);
  });
});

describe('PEERS_FILE', () => {
  it('reads monitoring prefixes, skipping comments and blank lines', () => {
    expect(parsePeersFile('# peers\n\nhttp://a:4000/witness/  # A\nhttps://b.example/witness\n', 'f')).toEqual([
      'http://a:4000/witness',
      'https://b.example/witness',
    ]);
  });
  it('refuses a line that is no http(s) URL, and a file that cannot be read, naming the file and line', () => {
    expect(() => parsePeersFile('http://a/witness\nnot a url\n', 'peers')).toThrow(/^PEERS_FILE peers: line 2: not a URL$/);
    expect(() => parsePeersFile('ftp://a/witness\n', 'peers')).toThrow(PeersFileError);
    const path = join(dir, 'missing');
    expect(() => loadPeersFile(path)).toThrow(/PEERS_FILE .*missing: ENOENT/);
    writeFileSync(path, 'http://x/witness\n');
    expect(loadPeersFile(path)).toEqual(['http://x/witness']);
  });
});
