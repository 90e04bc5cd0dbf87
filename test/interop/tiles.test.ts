// chainlog's C2SP tlog-tiles and tlog-proof receipts read by third-party code: a Go program
// (test/interop/tiles) fetches a real running server's /tlog/<app>/ URLs with filippo.io/torchwood's
// TileFetcher and Client, verifies the checkpoint with golang.org/x/mod/sumdb/note, proves inclusion of
// sampled entries and consistency with an earlier checkpoint through x/mod/sumdb/tlog's TileHashReader,
// checks that every entry bundle hashes to the tiles and holds the leaves logged, and parses receipts
// with github.com/transparency-dev/formats/proof. The Go program is built once into a temp dir.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromBase64Strict, leafBytes, parseVerifierKey, toBase64, toHex, verifierKeyString } from '../../src/core/index.js';
import { startService, type RunningService } from '../support/service.js';
import { until } from '../support/wait.js';

const goAvailable = spawnSync('go', ['version'], { encoding: 'utf8' }).status === 0;
if (!goAvailable) {
  console.warn(
    '\n\n*** TILES INTEROP TESTS SKIPPED: `go` is not on PATH; tlog-tiles and receipts are NOT being checked against third-party Go code ***\n\n',
  );
}

const APP = 'interop-tiles';
const ORIGIN = `chainlog.local/${APP}`;
const EVENT = 'id sourceAppId seq eventType timestamp receivedAt payload prevHash hash';

interface Check {
  ok: boolean;
  error?: string;
}
interface GoReport {
  checkpoint: Check;
  size: number;
  consistency: Check;
  inclusion: Check[];
  entries: Check;
  entriesRead: number;
  receipts: Check[];
}

/** The leaf bytes of an event as the API serves it, either version, in hex. */
const leafHexOf = (e: any) => toHex(leafBytes(e));

describe.skipIf(!goAvailable)('tlog-tiles and receipts read by third-party Go code (torchwood, x/mod sumdb, formats)', () => {
  let dir = '';
  let bin = '';
  let svc: RunningService;
  let logKey = '';
  let readerKey = '';
  const events: any[] = [];

  async function logEvents(count: number) {
    const inputs = Array.from({ length: count }, (_, i) => ({
      sourceAppId: APP,
      eventType: 'interop.entry',
      timestamp: new Date(Date.UTC(2025, 5, 1) + events.length + i).toISOString(),
      payload: { n: events.length + i, text: 'tiles ü 𝄞', amount: (events.length + i) * 1.5 },
    }));
    const res = await svc.gql(`mutation($in: [LogEventInput!]!) { logEvents(inputs: $in) { ${EVENT} } }`, { in: inputs });
    expect(res.errors).toBeUndefined();
    events.push(...res.data.logEvents);
  }

  async function checkpointAt(size: number): Promise<string> {
    return until(`a checkpoint of size ${size}`, async () => {
      await svc.gql('mutation { publishCheckpoints { treeSize } }');
      const res = await svc.gql('query($app: String!) { checkpoint(sourceAppId: $app) { treeSize note } }', { app: APP });
      return res.data.checkpoint?.treeSize === size ? (res.data.checkpoint.note as string) : null;
    });
  }

  function runGo(request: unknown): GoReport {
    const run = spawnSync(bin, [], { input: JSON.stringify(request), encoding: 'utf8', timeout: 120_000 });
    if (run.status !== 0) throw new Error(`tiles interop exited ${run.status}:\n${run.stderr}`);
    return JSON.parse(run.stdout) as GoReport;
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'chainlog-tiles-interop-'));
    bin = join(dir, 'tiles-interop');
    const build = spawnSync('go', ['build', '-o', bin, '.'], { cwd: join(import.meta.dirname, 'tiles'), encoding: 'utf8' });
    if (build.status !== 0) throw new Error(`go build failed:\n${build.stderr}`);
    // The Go program rebuilds each entry from the event as a version 1 leaf (the payload in the leaf).
    svc = await startService({ env: { CHECKPOINT_INTERVAL_MS: '3600000', CHECKPOINT_MIN_GAP_MS: '0', LEAF_VERSION: '1' } });
    const served = parseVerifierKey((await svc.gql('{ serverInfo { verifierKey } }')).data.serverInfo.verifierKey);
    // Checkpoints are signed under the log's origin as key name (c2sp.org/tlog-checkpoint).
    logKey = verifierKeyString(ORIGIN, served.publicKey);
    const key = await svc.gql('mutation { createApiKey(role: READER, sourceAppIds: ["interop-tiles"]) { secret } }');
    readerKey = key.data.createApiKey.secret;
  });

  afterAll(async () => {
    await svc?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('Go reads the log through the tiles, proves inclusion and consistency, and checks every entry bundle', async () => {
    await logEvents(300);
    const oldCheckpoint = await checkpointAt(300);
    for (let i = 0; i < 3; i++) await logEvents(200);
    await checkpointAt(900);

    const samples = [0, 1, 255, 256, 299, 511, 512, 767, 768, 899];
    const report = runGo({
      prefix: `${svc.url}/tlog/${APP}/`,
      apiKey: readerKey,
      verifierKey: logKey,
      oldCheckpoint,
      samples,
      leaves: events.map(leafHexOf),
      receipts: [],
    });
    expect(report.checkpoint).toEqual({ ok: true });
    expect(report.size).toBe(900);
    expect(report.consistency).toEqual({ ok: true });
    expect(report.inclusion).toEqual(samples.map(() => ({ ok: true })));
    expect(report.entries).toEqual({ ok: true });
    expect(report.entriesRead).toBe(900);
  });

  it('Go refuses the tiles without a key (401), so the check above cannot pass by accident', () => {
    const report = runGo({
      prefix: `${svc.url}/tlog/${APP}/`,
      apiKey: '',
      verifierKey: logKey,
      samples: [],
      leaves: [],
      receipts: [],
    });
    expect(report.checkpoint.ok).toBe(false);
    expect(report.checkpoint.error).toContain('401');
  });

  it('Go parses chainlog receipts with transparency-dev/formats and verifies them; tampered ones fail', async () => {
    const receiptOf = async (seq: number) =>
      (await fetch(`${svc.url}/v1/events/${APP}/${seq}/receipt`, { headers: svc.authHeaders() })).text();
    const good = await receiptOf(513);
    const lines = good.split('\n');
    const flipped = fromBase64Strict(lines[2]!)!;
    flipped[0]! ^= 1;
    const badHash = [...lines.slice(0, 2), toBase64(flipped), ...lines.slice(3)].join('\n');
    const badIndex = good.replace('index 513\n', 'index 514\n');
    const badNote = good.replace(
      /\n— (\S+) (\S+)\n$/,
      (_m, name: string, sig: string) => `\n— ${name} ${sig.slice(0, 8)}${sig[8] === 'A' ? 'B' : 'A'}${sig.slice(9)}\n`,
    );
    expect(badNote).not.toBe(good);
    const leaf = leafHexOf(events[513]);
    const report = runGo({
      prefix: `${svc.url}/tlog/${APP}/`,
      apiKey: readerKey,
      verifierKey: logKey,
      samples: [],
      leaves: [],
      receipts: [
        { proof: good, leaf },
        { proof: await receiptOf(0), leaf: leafHexOf(events[0]) },
        { proof: badHash, leaf },
        { proof: badIndex, leaf },
        { proof: badNote, leaf },
        { proof: good, leaf: leafHexOf(events[514]) },
      ],
    });
    expect(report.receipts.map((r) => r.ok)).toEqual([true, true, false, false, false, false]);
  });
});
