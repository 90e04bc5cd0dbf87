// The audit's pages over REST against the real service (on the e2e suites' engine), and through a
// proxy in front of it that lies on the REST route only: a reordered page, a page cut off, or no route
// at all (an older server, read over GraphQL instead).
import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAudit, type AuditReport } from '../../src/auditor/audit.js';
import { GraphqlClient } from '../../src/auditor/graphql-client.js';
import { RangeClient } from '../../src/auditor/range-client.js';
import { StateFile } from '../../src/auditor/state-file.js';
import { parseVerifierKey, type NoteVerifier } from '../../src/core/index.js';
import { startService, type RunningService } from '../support/service.js';
import { until } from '../support/wait.js';

const APP = 'transport';
const EVENTS = 40;
let svc: RunningService;
let verifier: NoteVerifier;
let proxy: Server;
let proxyUrl: string;
type Res = import('node:http').ServerResponse;
/** REST range requests the proxy has received and not yet answered, and the most at once. */
let pending = 0;
let mostPending = 0;
/** Answers a request (counted as answered before its bytes leave, so the auditor cannot outrun the count). */
const send = (res: Res, body: string, status = 200) => {
  pending--;
  res.writeHead(status, { 'content-type': 'application/json' }).end(body);
};
/** What the proxy answers for a REST range page, given the upstream's answer text. */
let lie: (body: string, res: Res) => void = (body, res) => send(res, body);
let restPages = 0;

beforeAll(async () => {
  svc = await startService();
  verifier = parseVerifierKey((await svc.gql('{ serverInfo { verifierKey } }')).data.serverInfo.verifierKey);
  const inputs = Array.from({ length: EVENTS }, (_, i) => ({
    sourceAppId: APP,
    eventType: 'transport.test',
    timestamp: new Date(Date.UTC(2025, 5, 1) + i * 1000).toISOString(),
    payload: { i, text: 'ünïcode ✓' },
  }));
  expect(
    (await svc.gql('mutation($in: [LogEventInput!]!) { logEvents(inputs: $in) { seq } }', { in: inputs })).errors,
  ).toBeUndefined();
  await until('a checkpoint of every event', async () => {
    await svc.gql('mutation { publishCheckpoints { treeSize } }');
    return (await svc.gql(`{ checkpoint(sourceAppId: "${APP}") { treeSize } }`)).data.checkpoint?.treeSize === EVENTS;
  });
  // The proxy forwards the REST range route to the service and lets `lie` change its answer.
  proxy = createServer((req, res) => {
    restPages++;
    mostPending = Math.max(mostPending, ++pending);
    void fetch(`${svc.url}${req.url}`, { headers: svc.authHeaders() }).then(async (up) => {
      expect(up.status).toBe(200);
      lie(await up.text(), res);
    });
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((r) => proxy.close(() => r()));
  await svc.stop();
});

async function audit(rangeUrl: string, pages: { pageSize?: number; pagesAhead?: number } = {}): Promise<AuditReport> {
  const state = await StateFile.load(join(mkdtempSync(join(tmpdir(), 'chainlog-transport-')), 's.json'));
  const rangeClient = new RangeClient({ url: rangeUrl, apiKey: svc.adminKey ?? undefined });
  try {
    return await runAudit({
      client: new GraphqlClient({ url: svc.url, apiKey: svc.adminKey ?? undefined }),
      rangeClient,
      url: svc.url,
      app: APP,
      verifier,
      from: 0,
      state,
      spotChecks: 2,
      pageSize: pages.pageSize ?? 16,
      pagesAhead: pages.pagesAhead,
    });
  } finally {
    rangeClient.close();
  }
}

describe('audit pages over REST', () => {
  it('an honest service verifies page by page over REST', async () => {
    lie = (body, res) => send(res, body);
    restPages = 0;
    const report = await audit(proxyUrl);
    expect(report.findings).toEqual([]);
    // Every node of level >= 1 in a tree of 40 leaves, once: 20 + 10 + 5 + 2 + 1.
    expect(report).toMatchObject({ verdict: 'OK', eventsChecked: EVENTS, pages: 3, treeNodesChecked: 38 });
    expect(restPages).toBe(3);
  });

  it('a stored node served wrong with a page is BAD_TREE_NODE where its proofs are; the events still verify', async () => {
    lie = (body, res) => {
      const page = JSON.parse(body) as { start: number; nodes: Array<{ level: number; index: number; hashes: string[] }> };
      // Page [16, 32) completes node (3, 3) over 24..31, which the proofs of 16..23 carry.
      const run = page.nodes.find((r) => r.level === 3);
      if (page.start === 16 && run) run.hashes[3 - run.index] = '11'.repeat(32);
      send(res, JSON.stringify(page));
    };
    const report = await audit(proxyUrl);
    expect(report.verdict).toBe('FAILED');
    expect(report.findings.map((f) => [f.kind, f.seq])).toEqual([['BAD_TREE_NODE', 16]]);
    expect(report).toMatchObject({ eventsChecked: EVENTS, firstBadSeq: 16, stateUpdated: false });
  });

  it('serves a page of payloads past ASCII as ASCII bytes of the same JSON', async () => {
    const res = await fetch(`${svc.url}/v1/logs/${APP}/range-proof?start=0&end=${EVENTS}`, { headers: svc.authHeaders() });
    expect(res.status).toBe(200);
    const bytes = Buffer.from(await res.arrayBuffer());
    expect(Number(res.headers.get('content-length'))).toBe(bytes.length);
    expect(bytes.every((b) => b < 0x80)).toBe(true);
    expect(bytes.toString('latin1')).toContain('\\u00fcn\\u00efcode \\u2713');
    const page = JSON.parse(bytes.toString('latin1')) as { events: Array<{ payload: { i: number; text: string } }> };
    expect(page.events.map((e) => e.payload)).toEqual(Array.from({ length: EVENTS }, (_, i) => ({ i, text: 'ünïcode ✓' })));
  });

  it('keeps the next pages in flight while it verifies one, never more than it is allowed', async () => {
    for (const ahead of [3, 1]) {
      // Every answer after page 0's (the first asked, alone) waits until `ahead` pages are asked.
      let release: () => void = () => undefined;
      const held = new Promise<void>((r) => (release = r));
      lie = (body, res) => {
        const page = JSON.parse(body) as { start: number };
        if (page.start === 0) send(res, body);
        else void held.then(() => send(res, body));
      };
      [restPages, pending, mostPending] = [0, 0, 0];
      const run = audit(proxyUrl, { pageSize: 4, pagesAhead: ahead });
      await until(`${ahead} pages in flight`, () => pending === ahead);
      release();
      const report = await run;
      expect(report.findings).toEqual([]);
      expect(report).toMatchObject({ verdict: 'OK', eventsChecked: EVENTS, pages: EVENTS / 4 });
      expect(restPages).toBe(EVENTS / 4);
      expect(mostPending).toBe(ahead);
    }
  });

  it('a reordered page is FAILED at the positions that moved', async () => {
    lie = (body, res) => {
      const page = JSON.parse(body) as { start: number; events: unknown[] };
      if (page.start === 16 && page.events.length > 3) [page.events[2], page.events[3]] = [page.events[3], page.events[2]];
      send(res, JSON.stringify(page));
    };
    const report = await audit(proxyUrl);
    expect(report.verdict).toBe('FAILED');
    expect(report.firstBadSeq).toBe(18);
    expect(report.findings.map((f) => [f.kind, f.seq])).toContainEqual(['WRONG_POSITION', 18]);
  });

  it('a page cut off stops the audit without a verdict on the log', async () => {
    lie = (body, res) => {
      const page = JSON.parse(body) as { start: number };
      if (page.start !== 16) return void send(res, body);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write(body.slice(0, body.length >> 1), () => res.destroy());
    };
    await expect(audit(proxyUrl)).rejects.toThrow(/broke off|socket hang up|ECONNRESET/);
  });

  it('a page that is not a page is a MALFORMED_RESPONSE finding at the event that breaks it', async () => {
    lie = (body, res) => {
      const page = JSON.parse(body) as { start: number; events: Array<Record<string, unknown>> };
      if (page.start === 32 && page.events.length > 1) page.events[1]!.seq = 'thirty-three';
      send(res, JSON.stringify(page));
    };
    const report = await audit(proxyUrl);
    expect(report.verdict).toBe('FAILED');
    // Halved down to the one position whose page does not parse.
    expect(report.findings.map((f) => [f.kind, f.seq])).toEqual([['MALFORMED_RESPONSE', 33]]);
  });

  it('a server without the route is audited over GraphQL', async () => {
    lie = (_body, res) => send(res, JSON.stringify({ errors: [{ code: 'NOT_FOUND', message: 'no route', rule: 'route' }] }), 404);
    restPages = 0;
    const report = await audit(proxyUrl);
    expect(report.findings).toEqual([]);
    expect(report).toMatchObject({ verdict: 'OK', eventsChecked: EVENTS, pages: 3 });
    // Asked once, then GraphQL for the rest.
    expect(restPages).toBe(1);
  });
});
