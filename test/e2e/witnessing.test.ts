// The log side of witnessing, end to end on the e2e suites' engine: a chainlog process with a witness
// policy (WITNESS_POLICY_FILE) submits its checkpoints to two real chainlog witnesses started as users
// start them, and to a small witness that misbehaves on purpose (test/support/hostile-witness.ts). The
// quorum's cosigned note is stored and delivered again; every failure path leaves witnessed false and
// shows in the witnesses' health; publishing goes on whatever the witnesses do.
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromHex, parseVerifierKey, rawPublicKey, verifierKeyString } from '../../src/core/index.js';
import { verifyConsistency } from '../../src/core/proof/verify.js';
import { parsePolicy, verifyWitnessedNote } from '../../src/core/witness/index.js';
import { e2eEngineEnv } from '../support/e2e-engine.js';
import { HostileWitness, type HostileMode } from '../support/hostile-witness.js';
import { metric, whenSubscribed } from '../support/metrics.js';
import { SubscriptionProbe } from '../support/service.js';
import { freePort, ServiceProcess } from '../support/service-process.js';
import { until } from '../support/wait.js';

const ADMIN = 'clk_e2e-admin-key-for-tests-only-0123456789';
const APPS = [
  'shop',
  'quiet',
  'slow',
  'refused-403',
  'refused-404',
  'refused-422',
  'endless',
  'future',
  'idle',
  'idle-killed',
  'gone',
  'conflict',
  'restart',
  'after-restart',
];

let dir: string;
const logKey = generateKeyPairSync('ed25519').privateKey;
const logPub = rawPublicKey(logKey);
const vkeyOf = (app: string) => verifierKeyString(`chainlog.local/${app}`, logPub);
let w1: ServiceProcess;
let w2: ServiceProcess;
let w1Key: string;
let w2Key: string;
const hostile = new HostileWitness('hostile.test/h');
let log: ServiceProcess;
let policyFile: string;
let policyText: string;
const clients: Client[] = [];

const adminHeaders = { 'x-api-key': ADMIN };
const svc = () => ({ url: log.url, authHeaders: () => adminHeaders });

async function gqlAt(url: string, query: string, variables?: Record<string, unknown>) {
  const res = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...adminHeaders },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await res.json()) as { data?: any; errors?: unknown };
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
}
const gql = (query: string, variables?: Record<string, unknown>) => gqlAt(log.url, query, variables);

function ws(): Client {
  const client = createClient({
    url: `${log.url.replace('http', 'ws')}/graphql`,
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    connectionParams: adminHeaders,
  });
  clients.push(client);
  return client;
}

async function ingest(app: string, count: number): Promise<void> {
  const inputs = Array.from({ length: count }, (_, i) => ({
    sourceAppId: app,
    eventType: 'tick',
    timestamp: new Date(Date.UTC(2025, 4, 1) + i).toISOString(),
    payload: { i },
  }));
  await gql('mutation($in: [LogEventInput!]!) { logEvents(inputs: $in) { id } }', { in: inputs });
}

const CHECKPOINT = 'sourceAppId treeSize rootHash note witnessed publishedAt cosignatures { witness keyId timestamp }';

async function latest(app: string) {
  return (await gql(`query($app: String!) { checkpoint(sourceAppId: $app) { ${CHECKPOINT} } }`, { app })).checkpoint;
}

interface Health {
  name: string;
  verifierKey: string;
  url: string;
  lastSuccessAt: string | null;
  lastError: string | null;
  lastErrorAt: string | null;
  lag: number;
}
async function health(name: string): Promise<Health> {
  const all = (await gql('{ witnesses { name verifierKey url lastSuccessAt lastError lastErrorAt lag } }')).witnesses as Health[];
  return all.find((w) => w.name === name)!;
}

/** Waits until the log published a checkpoint of `app` of at least `size`. */
const published = (app: string, size: number) =>
  until(`a checkpoint of ${app} of size ${size}`, async () => {
    const cp = await latest(app);
    return cp && cp.treeSize >= size ? cp : null;
  });

const witnessedAt = (app: string, size: number) =>
  until(
    `${app} witnessed at size ${size}`,
    async () => {
      const cp = await latest(app);
      return cp && cp.treeSize === size && cp.witnessed ? cp : null;
    },
    { timeoutMs: 20_000 },
  );

/** Waits until the witness's last error is about this log's checkpoint (its message starts with `<app> size <n>:`). */
const errorOf = (name: string, app: string, size: number) =>
  until(`an error of ${name} about ${app} size ${size}`, async () => {
    const h = await health(name);
    return h.lastError?.startsWith(`${app} size ${size}:`) ? h.lastError : null;
  });

function policyOf(quorum: string, opts: { w2Url?: string; extra?: string } = {}): string {
  return [
    '# the log witness policy of the e2e suite',
    `witness w1 ${w1Key} ${w1.url}/witness`,
    `witness w2 ${w2Key} ${opts.w2Url ?? `${w2.url}/witness`}`,
    `witness h ${hostile.vkey} ${hostile.url}`,
    ...(opts.extra ? [opts.extra] : []),
    quorum,
    '',
  ].join('\n');
}

/** Writes the policy, sends SIGHUP and waits for the log to say it reloaded it. */
async function usePolicy(text: string): Promise<void> {
  const reloads = log.output().split('witness policy reloaded').length;
  policyText = text;
  writeFileSync(policyFile, text);
  log.signal('SIGHUP');
  await until('the witness policy reloaded', () => log.output().split('witness policy reloaded').length > reloads);
}

function setHostile(mode: HostileMode): void {
  hostile.mode = mode;
}

/**
 * Lets the hostile witness cosign until it has nothing pending, so that the next failure test's log is
 * the only one failing at it (its health's lastError is the last failure of any log).
 */
async function settle(): Promise<void> {
  setHostile({ kind: 'cosign' });
  await until(
    'no checkpoint pending at h',
    async () => (await metric(svc(), 'chainlog_witness_pending_logs', { witness: 'h' })) === 0,
  );
}

async function startWitness(name: string): Promise<ServiceProcess> {
  const logsFile = join(dir, `${name}-logs`);
  writeFileSync(logsFile, APPS.map((app) => `log ${vkeyOf(app)}`).join('\n') + '\n');
  const proc = new ServiceProcess(await freePort(), join(dir, name), {
    AUTH: 'on',
    ADMIN_API_KEY: ADMIN,
    LOG_LEVEL: 'info',
    WITNESSED_LOGS_FILE: logsFile,
    WITNESS_NAME: `witness.test/${name}`,
    WITNESS_RATE_LIMIT_PER_SEC: '0',
    ...e2eEngineEnv(`witnessing_${name}`),
  });
  await proc.start();
  return proc;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'chainlog-witnessing-'));
  [w1, w2] = await Promise.all([startWitness('w1'), startWitness('w2')]);
  w1Key = (await gqlAt(w1.url, '{ serverInfo { witnessVerifierKey } }')).serverInfo.witnessVerifierKey;
  w2Key = (await gqlAt(w2.url, '{ serverInfo { witnessVerifierKey } }')).serverInfo.witnessVerifierKey;
  await hostile.start();
  setHostile({ kind: 'bogus' });
  const keyFile = join(dir, 'log-key.pem');
  writeFileSync(keyFile, logKey.export({ type: 'pkcs8', format: 'pem' }));
  policyFile = join(dir, 'policy');
  policyText = policyOf('group both all w1 w2\nquorum both');
  writeFileSync(policyFile, policyText);
  log = new ServiceProcess(await freePort(), join(dir, 'log'), {
    AUTH: 'on',
    ADMIN_API_KEY: ADMIN,
    LOG_LEVEL: 'info',
    CHECKPOINT_INTERVAL_MS: '100',
    SIGNING_KEY_FILE: keyFile,
    WITNESS_POLICY_FILE: policyFile,
    WITNESS_SUBMIT_TIMEOUT_MS: '500',
    WITNESS_SUBMIT_MAX_BACKOFF_MS: '200',
    ...e2eEngineEnv('witnessing_log'),
  });
  await log.start();
}, 180_000);

afterAll(async () => {
  await Promise.all(clients.map(async (c) => c.dispose()));
  await Promise.all([log?.stop(), w1?.stop(), w2?.stop(), hostile.stop()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('a log submitting its checkpoints to its witness policy', () => {
  it("stores the quorum's cosigned note, log signature first, and delivers the checkpoint again as witnessed", async () => {
    type Update = { checkpointPublished: { checkpoint: any } };
    const probe = await whenSubscribed(
      svc(),
      () =>
        new SubscriptionProbe<Update>(
          ws(),
          `subscription { checkpointPublished(sourceAppId: "shop") { checkpoint { ${CHECKPOINT} } } }`,
        ),
      { field: 'checkpointPublished' },
    );
    await ingest('shop', 3);
    await probe.until((p) => p.values.some((v) => v.checkpointPublished.checkpoint.witnessed), 20_000);
    const [first, second] = probe.values.map((v) => v.checkpointPublished.checkpoint);
    expect(first).toMatchObject({ treeSize: 3, witnessed: false, cosignatures: [] });
    expect(second).toMatchObject({ treeSize: 3, witnessed: true, rootHash: first.rootHash });
    probe.unsubscribe();

    // Any C2SP client with the log's key and the policy verifies the stored note.
    const stored = await latest('shop');
    expect(stored.note).toBe(second.note);
    const opened = verifyWitnessedNote(stored.note, [parseVerifierKey(vkeyOf('shop'))], parsePolicy(policyText));
    expect(opened.quorum).toBe(true);
    expect(opened.cosignatures.map((c) => c.witness)).toEqual(['w1', 'w2']);
    const sigLines = stored.note.slice(stored.note.indexOf('\n\n') + 2, -1).split('\n');
    expect(sigLines).toHaveLength(3);
    expect(sigLines[0]).toMatch(/^\u2014 chainlog\.local\/shop /);
    expect(stored.note.startsWith(first.note)).toBe(true);
    expect(stored.cosignatures.map((c: any) => c.witness)).toEqual(['w1', 'w2']);
    expect(stored.cosignatures[0].keyId).toBe(w1Key.split('+')[1]);
    expect(Date.parse(stored.cosignatures[0].timestamp)).toBeGreaterThan(Date.now() - 60_000);

    // The hostile witness answered a line of its key that does not verify: not counted, not stored.
    const h = await errorOf('h', 'shop', 3);
    expect(h).toMatch(/without a valid cosignature by its key \(invalid cosignature/);
    expect(stored.note).not.toContain('hostile.test/h');
    const w = await health('w1');
    expect(w).toMatchObject({ url: `${w1.url}/witness`, verifierKey: w1Key, lag: 0 });
    expect(w.lastSuccessAt).not.toBeNull();
    expect(await health('h')).toMatchObject({ lastSuccessAt: null, lag: 3 });
    expect(await metric(svc(), 'chainlog_witness_submissions_total', { witness: 'w1', outcome: 'cosigned' })).toBeGreaterThan(0);
    expect(await metric(svc(), 'chainlog_witness_submissions_total', { witness: 'h', outcome: 'failed' })).toBeGreaterThan(0);
    expect(await metric(svc(), 'chainlog_witness_lag_tree_size', { witness: 'h' })).toBe(3);
    expect(await metric(svc(), 'chainlog_checkpoints_witnessed_total')).toBeGreaterThan(0);
  });

  it("does not count a cosignature by another key under the witness's name: the quorum is not met, witnessed stays false", async () => {
    await settle();
    setHostile({ kind: 'foreign' });
    await usePolicy(policyOf('group wh all w1 h\nquorum wh'));
    await ingest('quiet', 2);
    expect(await errorOf('h', 'quiet', 2)).toMatch(/without a valid cosignature by its key$/);
    await until('w1 cosigned quiet', async () => (await health('w1')).lag === 0);
    const cp = await latest('quiet');
    expect(cp).toMatchObject({ treeSize: 2, witnessed: false, cosignatures: [] });
  });

  it('abandons a request to a witness that hangs, publishes on, and is witnessed once the witness answers', async () => {
    await settle();
    setHostile({ kind: 'hang' });
    await ingest('slow', 2);
    expect(await errorOf('h', 'slow', 2)).toMatch(/no answer within 500 ms/);
    await ingest('slow', 3);
    expect(await published('slow', 5)).toMatchObject({ witnessed: false });
    setHostile({ kind: 'cosign' });
    const cp = await witnessedAt('slow', 5);
    // The quorum's, and any other policy witness's that had answered: every verified cosignature is kept.
    expect(cp.cosignatures.map((c: any) => c.witness)).toEqual(expect.arrayContaining(['w1', 'h']));
  });

  for (const status of [403, 404, 422]) {
    it(`takes a ${status} answer as the witness's refusal: a health error, no cosignature`, async () => {
      await settle();
      const app = `refused-${status}`;
      setHostile({ kind: 'status', status, body: `refused with ${status}\n` });
      await ingest(app, 1);
      expect(await errorOf('h', app, 1)).toBe(`${app} size 1: ${status} refused with ${status}`);
      expect(await latest(app)).toMatchObject({ witnessed: false, cosignatures: [] });
      if (status === 422) expect(log.output()).toMatch(/a witness refused the checkpoint as inconsistent with one it cosigned/);
    });
  }

  it('stops reading an answer longer than its bound and retries', async () => {
    await settle();
    setHostile({ kind: 'endless' });
    await ingest('endless', 1);
    expect(await errorOf('h', 'endless', 1)).toBe('endless size 1: answer longer than 16384 bytes');
    setHostile({ kind: 'cosign' });
    await witnessedAt('endless', 1);
  });

  it('does not count a cosignature whose timestamp is ahead of the clock', async () => {
    await settle();
    setHostile({ kind: 'future', seconds: 3600 });
    await ingest('future', 1);
    expect(await errorOf('h', 'future', 1)).toMatch(
      /^future size 1: answered 200 without a valid cosignature by its key \(cosignature timestamp \d+ is in the future\)$/,
    );
    expect(await latest('future')).toMatchObject({ witnessed: false, cosignatures: [] });
  });

  it('shows no witnesses and no witnessed checkpoint on a server without a witness policy', async () => {
    expect(await gqlAt(w1.url, '{ witnesses { name } }')).toEqual({ witnesses: [] });
  });

  it('retries with the size a 409 answer names, sending the consistency proof from it', async () => {
    await settle();
    setHostile({ kind: 'conflict-then-cosign', size: 2 });
    const before = hostile.requests.length;
    await ingest('conflict', 5);
    const cp = await witnessedAt('conflict', 5);
    // The quorum's, and any other policy witness's that had answered: every verified cosignature is kept.
    expect(cp.cosignatures.map((c: any) => c.witness)).toEqual(expect.arrayContaining(['w1', 'h']));
    const mine = hostile.requests.slice(before).filter((r) => r.note.startsWith('chainlog.local/conflict\n5\n'));
    expect(mine[0]!.oldSize).toBe(0);
    const retried = mine.find((r) => r.oldSize === 2)!;
    const proof = (await gql('{ consistencyProof(sourceAppId: "conflict", fromSize: 2, toSize: 5) { fromRoot toRoot } }'))
      .consistencyProof;
    expect(() => verifyConsistency(2, 5, retried.proof, fromHex(proof.fromRoot), fromHex(proof.toRoot))).not.toThrow();
    expect(await metric(svc(), 'chainlog_witness_submissions_total', { witness: 'h', outcome: 'conflict' })).toBeGreaterThan(0);
  });

  it('publishes on while a witness is unreachable, and says why in its health', async () => {
    const closed = await freePort();
    await usePolicy(policyOf('group wh all w1 w2\nquorum wh', { w2Url: `http://127.0.0.1:${closed}/witness` }));
    await ingest('gone', 2);
    // Every log's checkpoint goes to the new w2: the last error is any of theirs.
    await until('w2 unreachable', async () => /ECONNREFUSED/.test((await health('w2')).lastError ?? ''));
    await ingest('gone', 2);
    expect(await published('gone', 4)).toMatchObject({ witnessed: false });
    expect(await metric(svc(), 'chainlog_witness_up', { witness: 'w2' })).toBe(0);
  });

  it('keeps submitting through a witness restarted mid-stream, and the log restarting learns each size from a 409', async () => {
    await usePolicy(policyOf('group both all w1 w2\nquorum both'));
    await ingest('restart', 2);
    await witnessedAt('restart', 2);
    await w2.stop();
    await ingest('restart', 2);
    expect(await published('restart', 4)).toMatchObject({ witnessed: false });
    await errorOf('w2', 'restart', 4);
    await w2.start();
    await witnessedAt('restart', 4);

    // A restarted log remembers no witness's size: each answers 409 with the size it cosigned, and the retry succeeds.
    await log.stop();
    await log.start();
    await ingest('restart', 1);
    const cp = await witnessedAt('restart', 5);
    expect(cp.cosignatures.map((c: any) => c.witness)).toEqual(expect.arrayContaining(['w1', 'w2']));
    expect(await metric(svc(), 'chainlog_witness_submissions_total', { witness: 'w1', outcome: 'conflict' })).toBeGreaterThan(0);
    // An earlier checkpoint keeps its cosigned note across the restart.
    const at4 = (await gql('{ checkpoint(sourceAppId: "restart", treeSize: 4) { witnessed } }')).checkpoint;
    expect(at4.witnessed).toBe(true);
  }, 120_000); // two process restarts (each start on MongoDB takes seconds)

  it('keeps the policy in force when a reload finds a bad file, naming the file and the line', async () => {
    const before = await gql('{ witnesses { name } }');
    writeFileSync(policyFile, `${policyText}witness broken not-a-key http://x\n`);
    const errors = log.output().split('witness policy not reloaded').length;
    log.signal('SIGHUP');
    await until('the reload refused', () => log.output().split('witness policy not reloaded').length > errors);
    expect(log.output()).toContain(`WITNESS_POLICY_FILE ${policyFile}: line 7: witness key`);
    expect(await gql('{ witnesses { name } }')).toEqual(before);
    await ingest('after-restart', 1);
    await witnessedAt('after-restart', 1);
  });

  // After a SIGKILL, sharing a database, the killed process's publisher lease outlives it: the restarted
  // process publishes once it expires, and submits then.
  it.each([
    ['a restart', 'idle', 'stop'],
    ['a SIGKILL', 'idle-killed', 'kill'],
  ] as const)(
    "submits again, after %s, an idle log's latest checkpoint that its quorum had not cosigned",
    async (_after, app, end) => {
      await usePolicy(policyOf('group wh all w1 h\nquorum wh'));
      await settle();
      setHostile({ kind: 'status', status: 503 });
      await ingest(app, 2);
      expect(await errorOf('h', app, 2)).toMatch(new RegExp(`^${app} size 2: 503`));
      await log[end]();
      setHostile({ kind: 'cosign' });
      await log.start();
      const cp = await witnessedAt(app, 2);
      expect(cp.cosignatures.map((c: any) => c.witness)).toEqual(expect.arrayContaining(['w1', 'h']));
    },
    120_000, // a process restart (a start on MongoDB takes seconds)
  );

  it('refuses to start with a bad policy file, naming the file and the line', async () => {
    const bad = join(dir, 'bad-policy');
    writeFileSync(bad, `witness w1 ${w1Key}\nquorum w1\n`);
    const proc = new ServiceProcess(await freePort(), join(dir, 'bad'), {
      AUTH: 'on',
      ADMIN_API_KEY: ADMIN,
      WITNESS_POLICY_FILE: bad,
      ...e2eEngineEnv('witnessing_bad'),
    });
    // The reason is in the fatal log line (JSON: the quotes are escaped).
    await expect(proc.start()).rejects.toThrow(/WITNESS_POLICY_FILE \S*bad-policy: line 1: witness \W+w1\W+ has no URL/);
  });
});
