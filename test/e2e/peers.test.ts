// Two real servers witness different histories of one origin (one log key, a fork: each server its
// own store) and compare their views through GET /witness/<origin hash>/checkpoint, PEERS_FILE naming
// the other: each records a proven inconsistency (detected by PEER). Different sizes without a proof
// from the log are left undecided; a third peer, a plain HTTP server of the test, serves a view that
// goes backwards (an unproven observation), a body that is not a checkpoint, one over the size bound,
// and one that never comes (the timeout). On the e2e suites' engine.
import { createServer, type Server, type ServerResponse } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseVerifierKey } from '../../src/core/index.js';
import { verifyEvidence } from '../../src/core/inconsistency/evidence.js';
import { originHash } from '../../src/witness/views.js';
import { metric } from '../support/metrics.js';
import { E2E_ADMIN_KEY } from '../support/service.js';
import { e2eEngineEnv } from '../support/e2e-engine.js';
import { freePort, ServiceProcess } from '../support/service-process.js';
import { until } from '../support/wait.js';
import { addCheckpoint, TestLog } from '../support/witness-log.js';

const main = new TestLog('example.com/main');
const split = main.fork(5);
const lagging = new TestLog('example.com/lagging');
const agree = new TestLog('example.com/agree');
const slow = new TestLog('example.com/slow');
const big = new TestLog('example.com/big');

let dir: string;
let a: ServiceProcess;
let b: ServiceProcess;
let fake: Server;
let fakeUrl: string;
const hanging: ServerResponse[] = [];
let agreeAnswers = 0;

const admin = (p: ServiceProcess) => ({ url: p.url, authHeaders: () => ({ 'x-api-key': E2E_ADMIN_KEY }) });

async function inconsistencies(p: ServiceProcess, filter: Record<string, string> = {}) {
  const res = await fetch(`${p.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': E2E_ADMIN_KEY },
    body: JSON.stringify({
      query:
        'query ($f: InconsistencyFilter) { inconsistencies(filter: $f) { nodes { kind proven detectedBy source evidence } } }',
      variables: { f: filter },
    }),
  });
  const body = (await res.json()) as { data: { inconsistencies: { nodes: Array<Record<string, any>> } } };
  return body.data.inconsistencies.nodes;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'chainlog-peers-'));
  fake = createServer((req, res) => {
    const hash = /^\/witness\/([0-9a-f]{64})\/checkpoint$/.exec(req.url ?? '')?.[1];
    if (hash === originHash(main.origin)) {
      // Chunked, with no length announced: the bound applies while reading.
      for (let i = 0; i < 100; i++) res.write('x'.repeat(1024));
      res.end();
    } else if (hash === originHash(big.origin)) res.end('x'.repeat(100 * 1024));
    else if (hash === originHash(lagging.origin)) res.end('hello\n');
    else if (hash === originHash(agree.origin)) res.end(agreeAnswers++ === 0 ? agree.note(8) : agree.note(4));
    else if (hash === originHash(slow.origin)) hanging.push(res);
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve));
  fakeUrl = `http://127.0.0.1:${(fake.address() as AddressInfo).port}/witness`;

  const [portA, portB] = [await freePort(), await freePort()];
  const logs = (ls: TestLog[]) => ls.map((l) => `log ${l.vkey}`).join('\n') + '\n';
  writeFileSync(join(dir, 'logs-a'), logs([main, lagging, agree, slow, big]));
  writeFileSync(join(dir, 'logs-b'), logs([main, lagging, agree]));
  writeFileSync(join(dir, 'peers-a'), `# B, and the test's own peer\nhttp://127.0.0.1:${portB}/witness\n${fakeUrl}\n`);
  writeFileSync(join(dir, 'peers-b'), `http://127.0.0.1:${portA}/witness/\n`);
  const env = (name: string) => ({
    AUTH: 'on',
    ADMIN_API_KEY: E2E_ADMIN_KEY,
    LOG_LEVEL: 'info',
    WITNESSED_LOGS_FILE: join(dir, `logs-${name}`),
    WITNESS_RATE_LIMIT_PER_SEC: '0',
    PEERS_FILE: join(dir, `peers-${name}`),
    PEER_COMPARE_INTERVAL_MS: '200',
    PEER_TIMEOUT_MS: '1000',
    ...e2eEngineEnv(`peers_${name}`),
  });
  a = new ServiceProcess(portA, join(dir, 'a'), env('a'));
  b = new ServiceProcess(portB, join(dir, 'b'), env('b'));
  await Promise.all([a.start(), b.start()]);

  // A witnessed the log's history, B the fork; both saw the lagging log, at different sizes.
  for (const [p, body] of [
    [a, main.body(0, 10)],
    [b, split.body(0, 10)],
    [a, lagging.body(0, 5)],
    [b, lagging.body(0, 8)],
    [a, agree.body(0, 6)],
    [b, agree.body(0, 6)],
    [a, slow.body(0, 3)],
    [a, big.body(0, 2)],
  ] as const) {
    expect((await addCheckpoint(p.url, body)).status).toBe(200);
  }
});

afterAll(async () => {
  for (const res of hanging) res.destroy();
  await Promise.all([a?.stop(), b?.stop()]);
  fake?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('GET /witness/<origin hash>/checkpoint', () => {
  it('serves the latest cosigned checkpoint of a witnessed origin; 404 for any other', async () => {
    const res = await fetch(`${a.url}/witness/${originHash(main.origin)}/checkpoint`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    const note = await res.text();
    expect(note.startsWith(main.note(10))).toBe(true);
    expect(note.slice(main.note(10).length)).toMatch(/^\u2014 \S+ \S+\n$/);
    expect((await fetch(`${b.url}/witness/${originHash(slow.origin)}/checkpoint`)).status).toBe(404);
    expect((await fetch(`${a.url}/witness/not-a-hash/checkpoint`)).status).toBe(404);
  });
});

describe('peers comparing views', () => {
  it('each server records the fork the other witnessed as a proven inconsistency, once', async () => {
    for (const [self, other] of [
      [a, b],
      [b, a],
    ] as const) {
      const [found] = await until('a PEER inconsistency', async () => {
        const nodes = await inconsistencies(self, { origin: main.origin });
        return nodes.length > 0 ? nodes : null;
      });
      expect(found).toMatchObject({ kind: 'SAME_SIZE_DIFFERENT_ROOTS', proven: true, detectedBy: 'PEER' });
      expect(found!.source.replace(/\/$/, '')).toBe(`${other.url}/witness`);
      expect(verifyEvidence(found!.evidence, parseVerifierKey(main.vkey))).toMatchObject({ proves: true });
    }
    // Later rounds find the same evidence: still one record, counted once.
    const compared = await metric(admin(a), 'chainlog_peer_comparisons_total', { result: 'inconsistent' });
    await until(
      'two more rounds',
      async () => (await metric(admin(a), 'chainlog_peer_comparisons_total', { result: 'inconsistent' })) >= compared + 2,
    );
    expect(await inconsistencies(a, { origin: main.origin })).toHaveLength(1);
    expect(
      await metric(admin(a), 'chainlog_inconsistencies_total', { detected_by: 'peer', kind: 'same-size-different-roots' }),
    ).toBe(1);
  });

  it('leaves different sizes without a proof undecided, and equal views consistent', async () => {
    await until('an undecided and a consistent comparison with B', async () => {
      const peer = `http://127.0.0.1:${b.port}/witness`;
      return (
        (await metric(admin(a), 'chainlog_peer_comparisons_total', { peer, result: 'undecided' })) > 0 &&
        (await metric(admin(a), 'chainlog_peer_comparisons_total', { peer, result: 'consistent' })) > 0
      );
    });
    expect(await inconsistencies(a, { origin: lagging.origin })).toEqual([]);
  });

  it("records a peer's view going backwards as unproven; bounds, refuses and times out what a peer serves", async () => {
    const [backwards] = await until('a history-backwards observation', async () => {
      const nodes = await inconsistencies(a, { origin: agree.origin });
      return nodes.length > 0 ? nodes : null;
    });
    expect(backwards).toMatchObject({ kind: 'UNPROVEN', proven: false, detectedBy: 'PEER', source: fakeUrl });
    expect(JSON.parse(backwards!.evidence)).toMatchObject({
      observation: 'history-backwards',
      notes: [agree.note(8), agree.note(4)],
    });
    expect(verifyEvidence(backwards!.evidence, parseVerifierKey(agree.vkey))).toMatchObject({ proves: false });

    await until('invalid and unavailable answers from the test peer', async () => {
      return (
        (await metric(admin(a), 'chainlog_peer_comparisons_total', { peer: fakeUrl, result: 'invalid' })) > 0 &&
        (await metric(admin(a), 'chainlog_peer_comparisons_total', { peer: fakeUrl, result: 'unavailable' })) >= 3 &&
        a.output().includes('no complete answer within 1000 ms')
      );
    });
    expect(a.output()).toContain('answer larger than 65536 bytes');
    expect(a.output()).toContain('answer of 102400 bytes, larger than 65536 bytes');
    expect(a.output()).toContain("a peer's view is not a checkpoint signed by the log");
    expect(await inconsistencies(a, { origin: lagging.origin })).toEqual([]);
  });
});
