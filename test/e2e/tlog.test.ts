// C2SP tlog-tiles and tlog-proof receipts served by the real service (both engines: this suite runs in the
// default and the e2e-mongodb projects), checked with the core against the served verifier key.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CompactRange,
  decodeEntryBundle,
  fromHex,
  hashLeaf,
  leafBytes,
  logVerifiers,
  openCheckpoint,
  parseVerifierKey,
  toHex,
  verifyReceipt,
  type NoteVerifier,
} from '../../src/core/index.js';
import { startService, type RunningService } from '../support/service.js';
import { until } from '../support/wait.js';

const APP = 'tiles-app';
const OTHER = 'tiles-other';
const PUBLIC = 'tiles-public';
const SIZE = 600; // two full level-0 tiles and one of width 88; a level-1 tile of width 2
const EVENT = 'id sourceAppId seq eventType timestamp receivedAt payload prevHash hash';
const REPO = join(import.meta.dirname, '../..');

let svc: RunningService;
let verifier: NoteVerifier;
let verifierKey = '';
const events: any[] = [];
let readerKey = '';
let otherReaderKey = '';

async function logEvents(app: string, count: number, from = 0) {
  const inputs = Array.from({ length: count }, (_, i) => ({
    sourceAppId: app,
    eventType: i % 2 ? 'order.paid' : 'order.created',
    timestamp: new Date(Date.UTC(2025, 3, 1) + from + i).toISOString(),
    payload: { i: from + i, text: 'ü€𝄞', nested: { list: [1, 'two', null, true] } },
  }));
  const res = await svc.gql(`mutation($in: [LogEventInput!]!) { logEvents(inputs: $in) { ${EVENT} } }`, { in: inputs });
  expect(res.errors).toBeUndefined();
  return res.data.logEvents as any[];
}

/** Publish on demand (the interval is an hour here) until the latest checkpoint of `app` has `size`. */
async function publishedAt(app: string, size: number): Promise<void> {
  await until(`a checkpoint of ${app} of size ${size}`, async () => {
    await svc.gql('mutation { publishCheckpoints { treeSize } }');
    const res = await svc.gql('query($app: String!) { checkpoint(sourceAppId: $app) { treeSize } }', { app });
    return res.data.checkpoint?.treeSize === size ? true : null;
  });
}

const get = (path: string, headers: Record<string, string> = svc.authHeaders()) => fetch(`${svc.url}${path}`, { headers });
const bytesOf = async (res: Response) => new Uint8Array(await res.arrayBuffer());
const concat = (parts: Uint8Array[]) => new Uint8Array(Buffer.concat(parts));
const restError = async (res: Response) => ((await res.json()) as { errors: Array<Record<string, unknown>> }).errors[0];

async function createKey(role: string, sourceAppIds: string[]): Promise<string> {
  const res = await svc.gql(
    'mutation($role: ApiKeyRole!, $apps: [String!]) { createApiKey(role: $role, sourceAppIds: $apps) { secret } }',
    { role: role.toUpperCase(), apps: sourceAppIds },
  );
  expect(res.errors).toBeUndefined();
  return res.data.createApiKey.secret as string;
}

beforeAll(async () => {
  svc = await startService({
    // Version 1 leaves hold their payload: the bundles and the leaf-size bound are checked on them here.
    env: {
      CHECKPOINT_INTERVAL_MS: '3600000',
      CHECKPOINT_MIN_GAP_MS: '0',
      TLOG_PUBLIC_LOGS: PUBLIC,
      RECEIPT_WAIT_TIMEOUT_MS: '30000',
      LEAF_VERSION: '1',
    },
  });
  verifierKey = (await svc.gql('{ serverInfo { verifierKey } }')).data.serverInfo.verifierKey;
  verifier = parseVerifierKey(verifierKey);
  for (let from = 0; from < SIZE; from += 300) events.push(...(await logEvents(APP, 300, from)));
  await logEvents(PUBLIC, 3);
  await publishedAt(APP, SIZE);
  await publishedAt(PUBLIC, 3);
  readerKey = await createKey('reader', [APP]);
  otherReaderKey = await createKey('reader', [OTHER]);
});

afterAll(async () => {
  await svc?.stop();
});

describe('tlog-tiles', () => {
  it('serves the latest checkpoint as a signed note, not to be cached without revalidation, with an ETag', async () => {
    const res = await get(`/tlog/${APP}/checkpoint`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(res.headers.get('cache-control')).toContain('no-cache');
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    const note = await res.text();
    const origin = `chainlog.local/${APP}`;
    const cp = openCheckpoint(note, logVerifiers(verifier, origin), origin);
    expect(cp.size).toBe(SIZE);
    const etag = res.headers.get('etag');
    expect(etag).toMatch(/^"[A-Za-z0-9_-]+"$/);
    const again = await get(`/tlog/${APP}/checkpoint`, { ...svc.authHeaders(), 'if-none-match': etag! });
    expect(again.status).toBe(304);
  });

  it('serves full and partial hash tiles that are the tree the checkpoint commits to', async () => {
    const leafHashes = events.map((e) => fromHex(e.hash));
    const full = await get(`/tlog/${APP}/tile/0/001`);
    expect(full.status).toBe(200);
    expect(full.headers.get('content-type')).toBe('application/octet-stream');
    expect(full.headers.get('cache-control')).toContain('max-age=31536000, immutable');
    expect(await bytesOf(full)).toEqual(concat(leafHashes.slice(256, 512)));

    const partial = await get(`/tlog/${APP}/tile/0/002.p/88`);
    expect(partial.status).toBe(200);
    expect(await bytesOf(partial)).toEqual(concat(leafHashes.slice(512, 600)));

    // Level 1: the Merkle Tree Hashes of the two full level-0 tiles.
    const level1 = await bytesOf(await get(`/tlog/${APP}/tile/1/000.p/2`));
    const mth = (from: number) => subtreeRoot(leafHashes.slice(from, from + 256));
    expect(level1).toEqual(concat([mth(0), mth(256)]));

    // And the root of the tree they make is the checkpoint's.
    const note = await (await get(`/tlog/${APP}/checkpoint`)).text();
    const cp = openCheckpoint(note, logVerifiers(verifier, `chainlog.local/${APP}`));
    expect(subtreeRoot(leafHashes)).toEqual(cp.rootHash);

    const etag = full.headers.get('etag')!;
    const cached = await get(`/tlog/${APP}/tile/0/001`, { ...svc.authHeaders(), 'if-none-match': etag });
    expect(cached.status).toBe(304);
  });

  it('serves entry bundles: each leaf, length-prefixed, hashing to the level-0 tile; gzip-compressed when accepted', async () => {
    const compressed = await get(`/tlog/${APP}/tile/entries/000`, { ...svc.authHeaders(), 'accept-encoding': 'gzip' });
    expect(compressed.headers.get('content-encoding')).toBe('gzip');
    expect(compressed.headers.get('vary')).toContain('Accept-Encoding');
    const identity = await get(`/tlog/${APP}/tile/entries/000`, { ...svc.authHeaders(), 'accept-encoding': 'identity' });
    expect(identity.headers.get('content-encoding')).toBeNull();
    expect(identity.headers.get('etag')).not.toBe(compressed.headers.get('etag'));
    const bundle = await bytesOf(identity);
    expect(await bytesOf(compressed)).toEqual(bundle);
    const entries = decodeEntryBundle(bundle);
    expect(entries).toHaveLength(256);
    entries.forEach((entry, i) => {
      expect(entry).toEqual(new Uint8Array(leafBytes(events[i])));
      expect(toHex(hashLeaf(entry))).toBe(events[i].hash);
    });
    expect((bundle[0]! << 8) | bundle[1]!).toBe(entries[0]!.length);
    const partial = decodeEntryBundle(await bytesOf(await get(`/tlog/${APP}/tile/entries/002.p/88`)));
    expect(partial.map((e) => toHex(hashLeaf(e)))).toEqual(events.slice(512).map((e) => e.hash));
  });

  it('refuses malformed tile paths with 400, naming the rule', async () => {
    for (const path of [
      'tile/0/67',
      'tile/0/x000/067',
      'tile/64/000',
      'tile/00/000',
      'tile/0/000.p/256',
      'tile/0/000.p/0',
      'tile/0/000.p/088',
      'tile/0/001/002',
      'tile/x/000',
      'tile/entries/000.p',
    ]) {
      const res = await get(`/tlog/${APP}/${path}`);
      expect(res.status, path).toBe(400);
      expect(await restError(res), path).toMatchObject({ code: 'BAD_USER_INPUT', field: 'path', rule: 'tilePath' });
    }
    const badApp = await get('/tlog/-bad-/checkpoint');
    expect(badApp.status).toBe(400);
    expect(await restError(badApp)).toMatchObject({ field: 'sourceAppId' });
  });

  it('answers 404 for tiles the latest checkpoint does not cover and for logs without a checkpoint', async () => {
    for (const path of [
      'tile/0/003',
      'tile/0/002',
      'tile/0/002.p/89',
      'tile/1/000',
      'tile/2/000.p/1',
      'tile/entries/002.p/89',
      'tile/0/x001/000',
    ]) {
      const res = await get(`/tlog/${APP}/${path}`);
      expect(res.status, path).toBe(404);
      expect(await restError(res), path).toMatchObject({ code: 'NOT_FOUND', rule: 'beyondCheckpoint' });
    }
    const none = await get('/tlog/no-such-log/checkpoint');
    expect(none.status).toBe(404);
    expect((await get('/tlog/no-such-log/tile/0/000.p/1')).status).toBe(404);
  });

  it("reads as the other read APIs do: a reader of the log may, no key or another log's reader may not", async () => {
    expect((await get(`/tlog/${APP}/tile/0/000`, { 'x-api-key': readerKey })).status).toBe(200);
    const checkpoint = await get(`/tlog/${APP}/checkpoint`, { authorization: `Bearer ${readerKey}` });
    expect(checkpoint.status).toBe(200);
    expect(checkpoint.headers.get('cache-control')).toBe('private, no-cache');
    const anonymous = await get(`/tlog/${APP}/checkpoint`, {});
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('access-control-allow-origin')).toBe('*');
    const other = await get(`/tlog/${APP}/tile/0/000`, { 'x-api-key': otherReaderKey });
    expect(other.status).toBe(403);
    expect(await restError(other)).toMatchObject({ code: 'FORBIDDEN', rule: 'scope' });
    expect((await get(`/tlog/${APP}/tile/0/000`, { 'x-api-key': 'clk_not-a-key-0123456789abcdef' })).status).toBe(401);
  });

  it('serves the logs TLOG_PUBLIC_LOGS names to anyone, publicly cacheable', async () => {
    const checkpoint = await get(`/tlog/${PUBLIC}/checkpoint`, {});
    expect(checkpoint.status).toBe(200);
    expect(checkpoint.headers.get('cache-control')).toBe('public, no-cache');
    const tile = await get(`/tlog/${PUBLIC}/tile/0/000.p/3`, {});
    expect(tile.status).toBe(200);
    expect(tile.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
  });

  it('answers the CORS preflight of a GET with an API key', async () => {
    const res = await fetch(`${svc.url}/tlog/${APP}/tile/0/000`, {
      method: 'OPTIONS',
      headers: {
        origin: 'https://monitor.example',
        'access-control-request-method': 'GET',
        'access-control-request-headers': 'x-api-key',
      },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(res.headers.get('access-control-allow-headers')).toContain('x-api-key');
  });

  it('refuses at ingest an event whose leaf would not fit in an entry bundle, naming the field and rule', async () => {
    const res = await svc.gql('mutation($in: LogEventInput!) { logEvent(input: $in) { seq } }', {
      in: { sourceAppId: OTHER, eventType: 'big', timestamp: new Date().toISOString(), payload: { blob: 'x'.repeat(65_400) } },
    });
    expect(res.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'payload', rule: 'maxLeafBytes' });
    const rest = await fetch(`${svc.url}/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...svc.authHeaders() },
      body: JSON.stringify({
        sourceAppId: OTHER,
        eventType: 'big',
        timestamp: new Date().toISOString(),
        payload: { blob: 'x'.repeat(65_400) },
      }),
    });
    expect(rest.status).toBe(400);
    expect(await restError(rest)).toMatchObject({ code: 'BAD_USER_INPUT', field: 'payload', rule: 'maxLeafBytes' });
    // Just within the bound: accepted, and its leaf is served in its bundle.
    const ok = await svc.gql(`mutation($in: LogEventInput!) { logEvent(input: $in) { ${EVENT} } }`, {
      in: { sourceAppId: OTHER, eventType: 'big', timestamp: new Date().toISOString(), payload: { blob: 'x'.repeat(65_000) } },
    });
    expect(ok.errors).toBeUndefined();
    await publishedAt(OTHER, 1);
    const [entry] = decodeEntryBundle(await bytesOf(await get(`/tlog/${OTHER}/tile/entries/000.p/1`)));
    expect(entry!.length).toBeGreaterThan(65_000);
    expect(toHex(hashLeaf(entry!))).toBe(ok.data.logEvent.hash);
  });
});

describe('receipts (tlog-proof)', () => {
  it('gives any event a receipt that verifies with the core, by GraphQL and REST alike', async () => {
    const e = events[300];
    const res = await svc.gqlAs(
      readerKey,
      'query($id: ID!) { receipt(id: $id) { eventId status index proof checkpoint { treeSize note } } }',
      { id: e.id },
    );
    expect(res.errors).toBeUndefined();
    const r = res.data.receipt;
    expect(r).toMatchObject({ eventId: e.id, status: 'READY', index: 300, checkpoint: { treeSize: SIZE } });
    expect(r.proof.startsWith('c2sp.org/tlog-proof@v1\nindex 300\n')).toBe(true);
    expect(r.proof.endsWith(`\n\n${r.checkpoint.note}`)).toBe(true);
    verifyReceipt(r.proof, fromHex(e.hash), 300, verifier, `chainlog.local/${APP}`);

    const rest = await get(`/v1/events/${APP}/300/receipt`, { 'x-api-key': readerKey });
    expect(rest.status).toBe(200);
    expect(rest.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(await rest.text()).toBe(r.proof);
  });

  it('says there is no such event (null, 404) and refuses a key of another log', async () => {
    const none = await svc.gql('query { receipt(id: "tiles-app/100000") { status } }');
    expect(none.errors).toBeUndefined();
    expect(none.data.receipt).toBeNull();
    const rest = await get(`/v1/events/${APP}/100000/receipt`);
    expect(rest.status).toBe(404);
    expect(await restError(rest)).toMatchObject({ code: 'NOT_FOUND', field: 'seq', rule: 'notFound' });
    const badSeq = await get(`/v1/events/${APP}/01/receipt`);
    expect(badSeq.status).toBe(400);
    expect(await restError(badSeq)).toMatchObject({ code: 'BAD_USER_INPUT', field: 'seq', rule: 'format' });
    const forbidden = await svc.gqlAs(otherReaderKey, 'query { receipt(id: "tiles-app/1") { status } }');
    expect(forbidden.errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN' });
    expect((await get(`/v1/events/${APP}/1/receipt`, { 'x-api-key': otherReaderKey })).status).toBe(403);
    expect((await get(`/v1/events/${APP}/1/receipt`, {})).status).toBe(401);
  });

  it('says a receipt is PENDING until a checkpoint covers the event, not an error', async () => {
    const [e] = await logEvents('tiles-pending', 1);
    const res = await svc.gql('query($id: ID!) { receipt(id: $id) { status proof checkpoint { treeSize } } }', { id: e.id });
    expect(res.errors).toBeUndefined();
    expect(res.data.receipt).toEqual({ status: 'PENDING', proof: null, checkpoint: null });
    const rest = await get(`/v1/events/tiles-pending/0/receipt`);
    expect(rest.status).toBe(404);
    expect(rest.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(await restError(rest)).toMatchObject({ code: 'NOT_FOUND', rule: 'receiptPending' });
  });

  it('logEvents with waitForReceipt answers once the checkpoint is published, with verifying receipts', async () => {
    const inputs = [0, 1].map((i) => ({
      sourceAppId: 'tiles-wait',
      eventType: 'x',
      timestamp: new Date().toISOString(),
      payload: { i },
    }));
    let done = false;
    const answer = svc
      .gql(
        `mutation($in: [LogEventInput!]!) { logEvents(inputs: $in, waitForReceipt: true) { ${EVENT} receipt { status index proof } } }`,
        {
          in: inputs,
        },
      )
      .finally(() => (done = true));
    // The mutation waits for a checkpoint; publish on demand until it has one and answers.
    await until('the waiting logEvents to answer', async () => {
      await svc.gql('mutation { publishCheckpoints { treeSize } }');
      return done || null;
    });
    const res = await answer;
    expect(res.errors).toBeUndefined();
    for (const e of res.data.logEvents) {
      expect(e.receipt).toMatchObject({ status: 'READY', index: e.seq });
      verifyReceipt(e.receipt.proof, fromHex(e.hash), e.seq, verifier, 'chainlog.local/tiles-wait');
    }
    // Event.receipt is the waited-for one only.
    const plain = await svc.gql('query { event(id: "tiles-wait/0") { receipt { status } } }');
    expect(plain.data.event.receipt).toBeNull();
  });

  it('POST /v1/events?wait=receipt answers with receipts; another wait value is refused before anything is written', async () => {
    const post = (query: string, body: unknown) =>
      fetch(`${svc.url}/v1/events${query}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...svc.authHeaders() },
        body: JSON.stringify(body),
      });
    const bad = await post('?wait=checkpoint', {
      sourceAppId: 'tiles-rest',
      eventType: 'x',
      timestamp: new Date().toISOString(),
      payload: {},
    });
    expect(bad.status).toBe(400);
    expect(await restError(bad)).toMatchObject({ code: 'BAD_USER_INPUT', field: 'wait', rule: 'oneOf' });
    expect((await svc.gql('query { log(sourceAppId: "tiles-rest") { size } }')).data.log).toBeNull();

    let done = false;
    const answer = post('?wait=receipt', [
      { sourceAppId: 'tiles-rest', eventType: 'x', timestamp: new Date().toISOString(), payload: { a: 1 } },
    ]).finally(() => (done = true));
    await until('the waiting POST to answer', async () => {
      await svc.gql('mutation { publishCheckpoints { treeSize } }');
      return done || null;
    });
    const res = await answer;
    expect(res.status).toBe(201);
    const [e] = ((await res.json()) as { events: any[] }).events;
    expect(e.receipt).toMatchObject({ status: 'READY', treeSize: 1 });
    verifyReceipt(e.receipt.proof, fromHex(e.hash), 0, verifier, 'chainlog.local/tiles-rest');
  });

  it('npm run verify -- --receipt checks a served receipt offline and rejects a tampered event with the reason', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'chainlog-receipt-'));
    try {
      const e = events[5];
      writeFileSync(join(dir, 'r.tlog-proof'), await (await get(`/v1/events/${APP}/5/receipt`)).text());
      writeFileSync(join(dir, 'e.json'), JSON.stringify(e));
      writeFileSync(join(dir, 'bad.json'), JSON.stringify({ ...e, payload: { ...e.payload, i: 6 }, hash: undefined }));
      const run = (eventFile: string) =>
        spawnSync(
          'npx',
          [
            'tsx',
            'scripts/verify.ts',
            '--receipt',
            join(dir, 'r.tlog-proof'),
            '--event',
            join(dir, eventFile),
            '--key',
            verifierKey,
          ],
          {
            cwd: REPO,
            encoding: 'utf8',
          },
        );
      const good = run('e.json');
      expect(good.status, good.stderr).toBe(0);
      expect(good.stdout).toContain('receipt OK');
      const bad = run('bad.json');
      expect(bad.status).toBe(1);
      expect(bad.stderr).toContain('receipt REJECTED (proof)');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 90_000);
});

/** The Merkle Tree Hash of a run of leaf hashes (RFC 9162 MTH): the root of their compact range. */
function subtreeRoot(leafHashes: Uint8Array[]): Uint8Array {
  const range = CompactRange.new(0);
  for (const h of leafHashes) range.append(h, () => undefined);
  return range.rootHash();
}

describe('a server whose receipt wait is short, and whose logs are all public', () => {
  let short: RunningService;

  beforeAll(async () => {
    short = await startService({
      env: {
        CHECKPOINT_INTERVAL_MS: '3600000',
        CHECKPOINT_MIN_GAP_MS: '0',
        TLOG_PUBLIC_LOGS: '*',
        RECEIPT_WAIT_TIMEOUT_MS: '100',
      },
    });
  });

  afterAll(async () => {
    await short?.stop();
  });

  it('answers logEvent and POST ?wait=receipt with PENDING receipts when the wait runs out, the events logged', async () => {
    const input = { sourceAppId: 'short', eventType: 'x', timestamp: new Date().toISOString(), payload: { a: 1 } };
    const res = await short.gql(
      'mutation($in: LogEventInput!) { logEvent(input: $in, waitForReceipt: true) { seq receipt { status proof } } }',
      {
        in: input,
      },
    );
    expect(res.errors).toBeUndefined();
    expect(res.data.logEvent).toEqual({ seq: 0, receipt: { status: 'PENDING', proof: null } });
    const rest = await fetch(`${short.url}/v1/events?wait=receipt`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...short.authHeaders() },
      body: JSON.stringify(input),
    });
    expect(rest.status).toBe(201);
    const [e] = ((await rest.json()) as { events: any[] }).events;
    expect(e).toMatchObject({ seq: 1, receipt: { status: 'PENDING', proof: null, treeSize: null } });
    expect((await short.gql('query { log(sourceAppId: "short") { size } }')).data.log.size).toBe(2);
  });

  it('serves every log without a key with TLOG_PUBLIC_LOGS=*', async () => {
    await until('a checkpoint of log "short"', async () => {
      await short.gql('mutation { publishCheckpoints { treeSize } }');
      return (await fetch(`${short.url}/tlog/short/checkpoint`)).status === 200 || null;
    });
    const tile = await fetch(`${short.url}/tlog/short/tile/0/000.p/2`);
    expect(tile.status).toBe(200);
    expect(tile.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
  });
});
