// A mirror's verified copy is one of its views (src/witness/views.ts): a real primary and a real mirror
// (FOLLOW_URL, no witness on the mirror), on the e2e suites' engine. The mirror serves, at
// GET /witness/<sha256hex(origin)>/checkpoint, the primary's signed note it accepted, and compares it
// with its peers (PEERS_FILE): a peer of the test serving another root at the same size, signed with the
// primary's key, is recorded on the mirror as a proven inconsistency detected by PEER.
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signCheckpoint } from '../../src/core/checkpoint.js';
import { createSigner } from '../../src/core/note/signed-note.js';
import { loadSigningKey } from '../../src/log/signing-key.js';
import { originHash } from '../../src/witness/views.js';
import { e2eEngineEnv } from '../support/e2e-engine.js';
import { E2E_ADMIN_KEY } from '../support/service.js';
import { freePort, ServiceProcess } from '../support/service-process.js';
import { until } from '../support/wait.js';

const ADMIN = { 'x-api-key': E2E_ADMIN_KEY };
const APP = 'shop';

let dir: string;
let primary: ServiceProcess;
let mirror: ServiceProcess;
let peer: Server;
let peerUrl: string;
let origin: string;
/** The primary's latest checkpoint once ingest stopped: what the mirror accepts last. */
let latest: { treeSize: number; note: string };
/** What the test's peer serves of the origin: the same size as `latest`, another root. */
let forkNote: string | null = null;

async function data(p: ServiceProcess, query: string, variables?: Record<string, unknown>): Promise<any> {
  const res = await fetch(`${p.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...ADMIN },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await res.json()) as { data?: any; errors?: unknown };
  if (body.errors) throw new Error(`${p.url}: ${JSON.stringify(body.errors)}`);
  return body.data;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'chainlog-mirror-views-'));
  peer = createServer((req, res) => {
    const hash = /^\/witness\/([0-9a-f]{64})\/checkpoint$/.exec(req.url ?? '')?.[1];
    if (forkNote !== null && hash === originHash(origin)) res.end(forkNote);
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => peer.listen(0, '127.0.0.1', resolve));
  peerUrl = `http://127.0.0.1:${(peer.address() as AddressInfo).port}/witness`;
  writeFileSync(join(dir, 'peers'), `${peerUrl}\n`);

  const base = { AUTH: 'on', ADMIN_API_KEY: E2E_ADMIN_KEY, LOG_LEVEL: 'info', CHECKPOINT_INTERVAL_MS: '200' };
  primary = new ServiceProcess(await freePort(), join(dir, 'primary'), { ...base, ...e2eEngineEnv('mviews_primary') });
  await primary.start();
  const { serverInfo } = await data(primary, '{ serverInfo { verifierKey originPrefix } }');
  origin = `${serverInfo.originPrefix}/${APP}`;
  const inputs = Array.from({ length: 20 }, (_, i) => ({
    sourceAppId: APP,
    eventType: 'order.placed',
    timestamp: new Date().toISOString(),
    payload: { i },
  }));
  await data(primary, 'mutation($inputs: [LogEventInput!]!) { logEvents(inputs: $inputs) { seq } }', { inputs });
  latest = await until('the primary to checkpoint every event', async () => {
    const cp = (await data(primary, `{ log(sourceAppId: "${APP}") { latestCheckpoint { treeSize note } } }`)).log
      .latestCheckpoint;
    return cp?.treeSize === 20 ? cp : null;
  });
  const auditor = (await data(primary, 'mutation { createApiKey(role: AUDITOR, name: "mirror") { secret } }')).createApiKey
    .secret;
  mirror = new ServiceProcess(await freePort(), join(dir, 'mirror'), {
    ...base,
    FOLLOW_URL: primary.url,
    FOLLOW_VERIFIER_KEY: serverInfo.verifierKey,
    FOLLOW_API_KEY: auditor,
    PEERS_FILE: join(dir, 'peers'),
    PEER_COMPARE_INTERVAL_MS: '200',
    PEER_TIMEOUT_MS: '2000',
    ...e2eEngineEnv('mviews_mirror'),
  });
  await mirror.start();
}, 180_000);

afterAll(async () => {
  await mirror?.kill();
  await primary?.kill();
  await new Promise((resolve) => peer?.close(resolve));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("a mirror's view", () => {
  it("serves the primary's note it accepted at the monitoring endpoint; 404 for an origin it does not follow", async () => {
    const url = `${mirror.url}/witness/${originHash(origin)}/checkpoint`;
    const served = await until('the mirror to serve its view of the log', async () => {
      const res = await fetch(url);
      return res.status === 200 ? res.text() : null;
    });
    // Its view is the checkpoint it accepted, which converges to the primary's latest.
    const accepted = await until('the mirror to accept the latest checkpoint', async () => {
      const text = await (await fetch(url)).text();
      return text === latest.note ? text : null;
    });
    expect(served.startsWith(`${origin}\n`)).toBe(true);
    expect(accepted).toBe(latest.note);
    const other = await fetch(`${mirror.url}/witness/${originHash(`${origin}-other`)}/checkpoint`);
    expect(other.status).toBe(404);
  });

  it('is compared with its peers: another root at the same size is a proven inconsistency', async () => {
    // Signed with the primary's key (from its DATA_DIR), as a primary showing a split view would.
    const key = loadSigningKey({ dataDir: join(dir, 'primary') });
    forkNote = signCheckpoint(
      { origin, size: latest.treeSize, rootHash: new Uint8Array(32).fill(7) },
      createSigner(origin, key.privateKey),
    );
    const [found] = await until('the mirror to record the inconsistency its peer shows', async () => {
      const d = await data(
        mirror,
        'query ($f: InconsistencyFilter) { inconsistencies(filter: $f) { nodes { kind proven detectedBy source } } }',
        { f: { origin } },
      );
      return d.inconsistencies.nodes.length > 0 ? d.inconsistencies.nodes : null;
    });
    expect(found).toMatchObject({ kind: 'SAME_SIZE_DIFFERENT_ROOTS', proven: true, detectedBy: 'PEER', source: peerUrl });
  });
});
