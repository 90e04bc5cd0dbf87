// Crash safety: the real service under sustained concurrent ingest (REST and GraphQL, single events
// and batches, every one with an idempotency key) is SIGKILLed at random moments, restarted on the same
// DATA_DIR, and then checked over its API:
//   - every acknowledged event is stored with the seq and hash it was acknowledged with;
//   - every log is seq 0..size-1 with no gap or repeat, hash-linked, and range-proven against a checkpoint;
//   - unknown-outcome requests re-sent with their key are committed exactly once, and re-sending acknowledged
//     requests after a restart returns the original events (no key appears twice);
//   - every checkpoint seen before a kill is still stored and is consistent with the one after the restart;
//     signatures verify with the key derived from DATA_DIR/signing-key.pem; verifyLog is ok;
//   - a new append after the last restart continues the chain.
// CRASH_SEED=<n> replays a run's random choices (kill moments, request shapes); the seed is printed.
import { createPrivateKey } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, onTestFailed } from 'vitest';
import {
  fromHex,
  leafHashHex,
  logVerifiers,
  openCheckpoint,
  parseVerifierKey,
  rawPublicKey,
  verifierKeyString,
  verifyConsistency,
  verifyRange,
  ZERO_HASH_HEX,
  type EventJson,
  type NoteVerifier,
} from '../../src/core/index.js';
import { mulberry32 } from '../../src/simulator/prng.js';
import { e2eEngineEnv } from '../support/e2e-engine.js';
import { freePort, ServiceProcess } from '../support/service-process.js';
import { until } from '../support/wait.js';

const SEED = process.env.CRASH_SEED ? Number(process.env.CRASH_SEED) : Math.floor(Math.random() * 2 ** 31);
const ROUNDS = 5;
const CLIENTS = 8;
const APPS = ['crash-a', 'crash-b', 'crash-c'];
const KEY_NAME = 'chainlog.local';
const EVENT_FIELDS = 'id sourceAppId seq eventType timestamp receivedAt payload prevHash hash payloadHash';
const CHECKPOINT_FIELDS = 'treeSize rootHash note';
const BASE_TS = Date.UTC(2025, 0, 1);

type Transport = 'rest' | 'graphql';

interface Item {
  key: string;
  sourceAppId: string;
  eventType: string;
  timestamp: string;
  payload: { k: string; c: number; n: number; pad: string };
}

/** An event as the service serves it, with its id, carrying one of our items' payloads. */
type ServedEvent = Omit<EventJson, 'payload'> & { id: string; payload: Item['payload'] };

interface Request {
  id: string;
  transport: Transport;
  /** A single event (object body / logEvent) or a batch (array body / logEvents). */
  batch: boolean;
  items: Item[];
  acked?: ServedEvent[];
  /** Times its outcome was unknown (connection cut by a kill, or refused while the server was down). */
  unknownCount: number;
  /** Kill number at the first unknown outcome, to tell afterwards whether it had been committed before it. */
  unknownAtKill?: number;
}

interface SeenCheckpoint {
  treeSize: number;
  rootHash: string;
  note: string;
}

type Outcome =
  { kind: 'acked'; events: ServedEvent[] } | { kind: 'unknown'; error: string } | { kind: 'rejected'; detail: string };

/** Seeded, so a failing run can be replayed with its seed. */
const rand = mulberry32(SEED);
const between = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const dataDir = mkdtempSync(join(tmpdir(), 'chainlog-crash-'));
let svc: ServiceProcess | undefined;

afterAll(async () => {
  await svc?.kill();
  rmSync(dataDir, { recursive: true, force: true });
});

/** Sends a request as a client would; never throws. */
async function send(url: string, req: Request): Promise<Outcome> {
  const inputs = req.items.map((i) => ({
    sourceAppId: i.sourceAppId,
    eventType: i.eventType,
    timestamp: i.timestamp,
    payload: i.payload,
    idempotencyKey: i.key,
  }));
  let status: number;
  let text: string;
  try {
    const res =
      req.transport === 'rest'
        ? await fetch(`${url}/v1/events`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify(req.batch ? inputs : inputs[0]),
            signal: AbortSignal.timeout(20_000),
          })
        : await fetch(`${url}/graphql`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify(
              req.batch
                ? {
                    query: `mutation($in: [LogEventInput!]!) { logEvents(inputs: $in) { ${EVENT_FIELDS} } }`,
                    variables: { in: inputs },
                  }
                : {
                    query: `mutation($in: LogEventInput!) { logEvent(input: $in) { ${EVENT_FIELDS} } }`,
                    variables: { in: inputs[0] },
                  },
            ),
            signal: AbortSignal.timeout(20_000),
          });
    status = res.status;
    text = await res.text();
  } catch (err) {
    const e = err as Error & { cause?: { code?: string; message?: string } };
    return { kind: 'unknown', error: e.cause?.code ?? e.cause?.message ?? e.message };
  }
  let body: any;
  try {
    body = JSON.parse(text);
  } catch {
    return { kind: 'rejected', detail: `${req.transport} ${status}: not JSON: ${text.slice(0, 200)}` };
  }
  if (req.transport === 'rest') {
    // 200 answers an idempotent retry; the per-event replay marker is not part of the event.
    if (status !== 201 && status !== 200) return { kind: 'rejected', detail: `rest ${status}: ${text.slice(0, 500)}` };
    return { kind: 'acked', events: body.events.map(({ replayed: _replayed, ...event }: { replayed: boolean }) => event) };
  }
  if (status !== 200 || body.errors || !body.data)
    return { kind: 'rejected', detail: `graphql ${status}: ${text.slice(0, 500)}` };
  return { kind: 'acked', events: req.batch ? body.data.logEvents : [body.data.logEvent] };
}

/** GraphQL for the checks: any error fails the test. */
async function gql<T = any>(query: string, variables?: Record<string, unknown>): Promise<T> {
  const res = await fetch(`${svc!.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await res.json()) as { data?: T; errors?: unknown };
  if (res.status !== 200 || body.errors || !body.data) {
    throw new Error(`GraphQL ${res.status}: ${JSON.stringify(body.errors ?? body)}\nquery: ${query}`);
  }
  return body.data;
}

/** The verifier key derived from the key file in DATA_DIR (not the one the server advertises). */
function verifierFromKeyFile(): { verifier: NoteVerifier; keyString: string } {
  const pem = readFileSync(join(dataDir, 'signing-key.pem'), 'utf8');
  const keyString = verifierKeyString(KEY_NAME, rawPublicKey(createPrivateKey(pem)));
  return { verifier: parseVerifierKey(keyString), keyString };
}

describe('crash safety under concurrent ingest', () => {
  it(
    `keeps every acknowledged event, positions, idempotency and checkpoints across ${ROUNDS} SIGKILLs (seed ${SEED})`,
    { timeout: 120_000 },
    async () => {
      console.log(`crash test seed: ${SEED} (replay with CRASH_SEED=${SEED}); data dir ${dataDir}`);
      onTestFailed(() =>
        console.log(`crash test failed with seed ${SEED}; service output (warn and above):\n${svc?.output(8000)}`),
      );
      const port = await freePort();
      // As the e2e suite: CHAINLOG_E2E_MONGODB_URI runs it on MongoDB (one database, kept across restarts).
      const engine = e2eEngineEnv('crash');
      const mongo = engine.MONGODB_URI !== undefined;
      svc = new ServiceProcess(port, dataDir, { CHECKPOINT_INTERVAL_MS: '100', AUTH: 'off', ...engine });
      await svc.start();
      const { verifier, keyString } = verifierFromKeyFile();
      const served = await gql<{ serverInfo: { verifierKey: string } }>('{ serverInfo { verifierKey } }');
      expect(served.serverInfo.verifierKey).toBe(keyString);
      const origin = (app: string) => `${KEY_NAME}/${app}`;
      const trustedRoot = (app: string, cp: SeenCheckpoint): Uint8Array => {
        const opened = openCheckpoint(cp.note, logVerifiers(verifier, origin(app)), origin(app));
        expect(opened.size, `${app}: note size`).toBe(cp.treeSize);
        expect(opened.rootHash, `${app}: note root`).toEqual(fromHex(cp.rootHash));
        return opened.rootHash;
      };

      // --- the clients --------------------------------------------------------------------------
      const requests: Request[] = [];
      const rejected: string[] = [];
      const stats = { sent: 0, unknownEvents: 0, retried: 0, committedBeforeKill: 0, replayed: 0 };
      let kills = 0;
      let killedAt: number[] = [];
      /** Resolves while the server is up; replaced by a pending promise at each kill. */
      let up = true;
      let whenUp: Promise<void> = Promise.resolve();
      let markUp: () => void = () => undefined;
      let stopNew = false;
      let counter = 0;

      const newRequest = (client: number): Request => {
        const transport: Transport = rand() < 0.5 ? 'rest' : 'graphql';
        const batch = rand() < 0.5;
        const id = `s${SEED}-c${client}-r${++counter}`;
        const items = Array.from({ length: batch ? between(2, 6) : 1 }, (_, i): Item => {
          const key = `${id}-i${i}`;
          const n = counter * 10 + i;
          return {
            key,
            sourceAppId: pick(APPS),
            eventType: batch ? 'crash.batch' : 'crash.single',
            timestamp: new Date(BASE_TS + n).toISOString(),
            payload: { k: key, c: client, n, pad: 'x'.repeat(between(0, 200)) },
          };
        });
        const req: Request = { id, transport, batch, items, unknownCount: 0 };
        requests.push(req);
        return req;
      };

      /** Checks a response against what was sent; returns a problem or null. */
      const checkAck = (req: Request, events: ServedEvent[]): string | null => {
        if (!Array.isArray(events) || events.length !== req.items.length)
          return `${req.id}: ${events?.length} events for ${req.items.length} items`;
        for (const [i, e] of events.entries()) {
          const item = req.items[i]!;
          if (e.sourceAppId !== item.sourceAppId || e.payload?.k !== item.key || e.timestamp !== item.timestamp) {
            return `${req.id}[${i}]: response ${JSON.stringify(e)} is not the event sent (${item.key})`;
          }
        }
        return null;
      };

      const client = async (c: number) => {
        const pending: Request[] = [];
        for (;;) {
          await whenUp;
          const retry = pending[0];
          if (!retry && stopNew) return;
          const req = retry ?? newRequest(c);
          const url = svc!.url;
          if (!retry) stats.sent++;
          else stats.retried++;
          const outcome = await send(url, req);
          if (outcome.kind === 'acked') {
            if (retry) pending.shift();
            const problem = checkAck(req, outcome.events);
            if (problem) rejected.push(problem);
            req.acked = outcome.events;
            // Committed before the kill that cut its first attempt? (receivedAt is server time, same host.)
            if (req.unknownAtKill !== undefined) {
              const cut = killedAt[req.unknownAtKill - 1];
              if (cut !== undefined && outcome.events.some((e) => Date.parse(e.receivedAt) < cut)) stats.committedBeforeKill++;
            }
          } else if (outcome.kind === 'unknown') {
            if (req.unknownCount++ === 0) {
              stats.unknownEvents += req.items.length;
              req.unknownAtKill = up ? kills + 1 : kills; // up: the kill is about to land; down: the current one
            }
            if (!retry) pending.push(req);
            if (up) await sleep(20); // the client's retry pacing: e.g. a stale pooled connection to the killed process
          } else {
            if (retry) pending.shift();
            rejected.push(`${req.id}: ${outcome.detail}`);
          }
        }
      };

      // --- checkpoints seen while the server runs -------------------------------------------------
      /** Per round: every distinct checkpoint served before that round's kill, per log. */
      const seenByRound: Array<Map<string, Map<number, SeenCheckpoint>>> = [];
      let monitoring = true;
      const monitor = async () => {
        while (monitoring) {
          const round = kills;
          const res = await fetch(`${svc!.url}/graphql`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({
              query: `{ logs(first: 50) { edges { node { sourceAppId latestCheckpoint { ${CHECKPOINT_FIELDS} } } } } }`,
            }),
          })
            .then((r) => r.json() as Promise<any>)
            .catch(() => null);
          const seen = (seenByRound[round] ??= new Map());
          for (const edge of res?.data?.logs?.edges ?? []) {
            const cp = edge.node.latestCheckpoint as SeenCheckpoint | null;
            if (!cp) continue;
            trustedRoot(edge.node.sourceAppId, cp);
            let m = seen.get(edge.node.sourceAppId);
            if (!m) seen.set(edge.node.sourceAppId, (m = new Map()));
            m.set(cp.treeSize, cp);
          }
          await sleep(between(30, 120)); // the monitor's sampling rate, seeded
        }
      };

      /** After a restart: the tree is caught up, signed with the same key, and consistent with what was seen before. */
      const checkAfterRestart = async (round: number) => {
        expect((await gql('{ serverInfo { verifierKey } }')).serverInfo.verifierKey).toBe(keyString);
        await gql('mutation { publishCheckpoints { treeSize } }');
        const seen = seenByRound[round] ?? new Map<string, Map<number, SeenCheckpoint>>();
        let proofs = 0;
        for (const app of APPS) {
          const { log } = await gql(
            `query($app: String!) { log(sourceAppId: $app) { size integratedSize latestCheckpoint { ${CHECKPOINT_FIELDS} } } }`,
            { app },
          );
          const before = [...(seen.get(app)?.values() ?? [])];
          if (!log) {
            expect(before, `${app}: checkpoints were served before kill ${round + 1}, but the log is gone`).toEqual([]);
            continue;
          }
          expect(log.integratedSize, `${app}: integrated after restart ${round + 1}`).toBe(log.size);
          expect(log.latestCheckpoint?.treeSize, `${app}: checkpoint after restart ${round + 1}`).toBe(log.size);
          const latest = log.latestCheckpoint as SeenCheckpoint;
          const latestRoot = trustedRoot(app, latest);
          for (const cp of before) {
            expect(cp.treeSize, `${app}: a checkpoint seen before kill ${round + 1} is beyond the log`).toBeLessThanOrEqual(
              latest.treeSize,
            );
            const { checkpoint, consistencyProof } = await gql(
              `query($app: String!, $from: SafeInt!, $to: SafeInt!) {
              checkpoint(sourceAppId: $app, treeSize: $from) { ${CHECKPOINT_FIELDS} }
              consistencyProof(sourceAppId: $app, fromSize: $from, toSize: $to) { fromRoot toRoot hashes } }`,
              { app, from: cp.treeSize, to: latest.treeSize },
            );
            expect(checkpoint, `${app}: checkpoint ${cp.treeSize} seen before kill ${round + 1}`).toEqual(cp);
            expect(consistencyProof).toMatchObject({ fromRoot: cp.rootHash, toRoot: latest.rootHash });
            verifyConsistency(
              cp.treeSize,
              latest.treeSize,
              consistencyProof.hashes.map(fromHex),
              trustedRoot(app, cp),
              latestRoot,
            );
            proofs++;
          }
        }
        return proofs;
      };

      /** Re-send some acknowledged requests with their keys: each must return exactly the original events. */
      const replayAcked = async () => {
        const done = requests.filter((r) => r.acked);
        for (let i = 0; i < 6 && done.length > 0; i++) {
          const req = done.splice(Math.floor(rand() * done.length), 1)[0]!;
          const outcome = await send(svc!.url, req);
          expect(outcome, `replay of ${req.id}`).toEqual({ kind: 'acked', events: req.acked });
          stats.replayed++;
        }
      };

      // --- run: ingest, kill, restart, check, repeat ------------------------------------------------
      const clients = Array.from({ length: CLIENTS }, (_, c) => client(c));
      const monitorDone = monitor();
      monitorDone.catch(() => undefined); // awaited (and rethrown) at the end
      let consistencyProofs = 0;
      const killLog: string[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        const runMs = between(500, 2000);
        await sleep(runMs); // a seeded random time under load before the kill: when it lands is what the test varies
        up = false;
        whenUp = new Promise<void>((resolve) => (markUp = resolve));
        kills++;
        await svc.kill();
        killedAt = [...killedAt, Date.now()]; // anything received before this was received by the killed process
        const started = Date.now();
        await svc.start();
        killLog.push(
          `kill ${kills} after ${runMs} ms, ${requests.filter((r) => r.acked).length} requests acked so far, restart ${Date.now() - started} ms`,
        );
        consistencyProofs += await checkAfterRestart(round);
        await replayAcked();
        up = true;
        markUp();
      }
      // The pipeline keeps running after the last restart: more requests are acknowledged.
      const ackedAtLastRestart = requests.filter((r) => r.acked).length;
      await until(
        'requests acknowledged after the last restart',
        () => requests.filter((r) => r.acked).length >= ackedAtLastRestart + CLIENTS,
        { timeoutMs: 20_000 },
      );
      stopNew = true;
      await Promise.all(clients);
      monitoring = false;
      await monitorDone;

      // --- final checks ---------------------------------------------------------------------------
      expect(rejected, 'requests the server rejected or answered wrongly').toEqual([]);
      const unresolved = requests.filter((r) => !r.acked);
      expect(
        unresolved.map((r) => r.id),
        'requests never acknowledged',
      ).toEqual([]);

      // Every request is answered; publish now, so the latest checkpoint must cover each whole log.
      await until('a published checkpoint covering every log', async () => {
        await gql('mutation { publishCheckpoints { treeSize } }');
        const { logs } = await gql(`{ logs(first: 50) { edges { node { size latestCheckpoint { treeSize } } } } }`);
        return logs.edges.every(
          (e: { node: { size: number; latestCheckpoint: { treeSize: number } | null } }) =>
            e.node.latestCheckpoint?.treeSize === e.node.size,
        );
      });
      const byKey = new Map<string, ServedEvent[]>();
      const heads = new Map<string, { size: number; headHash: string; checkpoint: SeenCheckpoint }>();
      let total = 0;
      for (const app of APPS) {
        const { log } = await gql(
          `query($app: String!) { log(sourceAppId: $app) { size headHash latestCheckpoint { ${CHECKPOINT_FIELDS} } } }`,
          { app },
        );
        expect(log, `${app}: log exists`).not.toBeNull();
        const cp = log.latestCheckpoint as SeenCheckpoint;
        expect(cp.treeSize, `${app}: latest checkpoint covers the log`).toBe(log.size);
        const root = trustedRoot(app, cp);
        // Walk the log in seq order with range proofs against the signed checkpoint.
        let prev = ZERO_HASH_HEX;
        for (let start = 0; start < log.size; start += 1000) {
          const end = Math.min(start + 1000, log.size);
          const { rangeProof } = await gql(
            `query($app: String!, $s: SafeInt!, $e: SafeInt!, $n: SafeInt!) {
            rangeProof(sourceAppId: $app, start: $s, end: $e, treeSize: $n) { leftHashes rightHashes rootHash events { ${EVENT_FIELDS} } } }`,
            { app, s: start, e: end, n: cp.treeSize },
          );
          const events = rangeProof.events as ServedEvent[];
          expect(
            events.map((e) => e.seq),
            `${app}: positions ${start}..${end - 1}`,
          ).toEqual(Array.from({ length: end - start }, (_, i) => start + i));
          for (const e of events) {
            expect(e.prevHash, `${app}/${e.seq}: link`).toBe(prev);
            expect(leafHashHex(e), `${app}/${e.seq}: leaf hash`).toBe(e.hash);
            prev = e.hash;
            const same = byKey.get(e.payload.k) ?? [];
            same.push(e);
            byKey.set(e.payload.k, same);
          }
          verifyRange(
            start,
            end,
            cp.treeSize,
            events.map((e) => fromHex(e.hash)),
            rangeProof.leftHashes.map(fromHex),
            rangeProof.rightHashes.map(fromHex),
            root,
          );
        }
        expect(prev, `${app}: head hash`).toBe(log.headHash);
        const { verifyLog } = await gql(
          `query($app: String!) { verifyLog(sourceAppId: $app) { ok eventsChecked checkpointsChecked problems { kind seq message } } }`,
          { app },
        );
        expect(verifyLog, `${app}: verifyLog`).toMatchObject({ ok: true, problems: [], eventsChecked: log.size });
        heads.set(app, { size: log.size, headHash: log.headHash, checkpoint: cp });
        total += log.size;
      }

      // No key twice, nothing stored that was not sent, every sent item stored once (soft: report them all).
      const none = (what: string, list: string[]) =>
        expect.soft({ count: list.length, first: list.slice(0, 10) }, what).toEqual({ count: 0, first: [] });
      const duplicates = [...byKey]
        .filter(([, es]) => es.length > 1)
        .map(([k, es]) => `${k} at ${es.map((e) => e.id).join(', ')}`);
      none('idempotency keys stored more than once', duplicates);
      const sentKeys = new Set(requests.flatMap((r) => r.items.map((i) => i.key)));
      none(
        'stored events nobody sent',
        [...byKey.keys()].filter((k) => !sentKeys.has(k)),
      );
      none(
        'sent (and acknowledged) events missing',
        [...sentKeys].filter((k) => !byKey.has(k)),
      );
      // Every acknowledgement still holds: same log, seq and hash.
      const changed: string[] = [];
      for (const req of requests) {
        for (const e of req.acked ?? []) {
          const stored = byKey.get(e.payload.k)?.[0];
          if (!stored || stored.id !== e.id || stored.hash !== e.hash || stored.receivedAt !== e.receivedAt) {
            changed.push(`${e.payload.k}: acked ${e.id} ${e.hash}, stored ${stored?.id} ${stored?.hash}`);
          }
        }
      }
      none('acknowledged events that changed', changed);

      // A new append after the last restart continues each chain, and the next checkpoint is consistent.
      for (const app of APPS) {
        const head = heads.get(app)!;
        const input = {
          sourceAppId: app,
          eventType: 'crash.after',
          timestamp: new Date(BASE_TS).toISOString(),
          payload: { k: `after-${app}` },
          expectedPrevHash: head.headHash,
        };
        const { logEvent } = await gql(`mutation($in: LogEventInput!) { logEvent(input: $in) { ${EVENT_FIELDS} } }`, {
          in: input,
        });
        expect(logEvent).toMatchObject({ seq: head.size, prevHash: head.headHash });
        expect(leafHashHex(logEvent)).toBe(logEvent.hash);
      }
      await gql('mutation { publishCheckpoints { treeSize } }');
      for (const app of APPS) {
        const head = heads.get(app)!;
        const { log, consistencyProof } = await gql(
          `query($app: String!, $from: SafeInt!, $to: SafeInt!) { log(sourceAppId: $app) { size latestCheckpoint { ${CHECKPOINT_FIELDS} } }
          consistencyProof(sourceAppId: $app, fromSize: $from, toSize: $to) { hashes } }`,
          { app, from: head.size, to: head.size + 1 },
        );
        expect(log.latestCheckpoint.treeSize).toBe(head.size + 1);
        verifyConsistency(
          head.size,
          head.size + 1,
          consistencyProof.hashes.map(fromHex),
          trustedRoot(app, head.checkpoint),
          trustedRoot(app, log.latestCheckpoint),
        );
        const { verifyLog } = await gql(
          `query($app: String!) { verifyLog(sourceAppId: $app) { ok problems { kind seq message } } }`,
          { app },
        );
        expect(verifyLog, `${app}: verifyLog after the new append`).toMatchObject({ ok: true });
      }

      const acked = requests.filter((r) => r.acked).reduce((n, r) => n + r.items.length, 0);
      const unknownRequests = requests.filter((r) => r.unknownCount > 0).length;
      console.log(
        [
          `crash test (seed ${SEED}, ${mongo ? 'MongoDB' : 'SQLite'}): ${ROUNDS} SIGKILLs, ${svc.starts} starts`,
          ...killLog.map((l) => `  ${l}`),
          `  requests: ${requests.length} (${stats.sent} sent), events acked: ${acked}`,
          `  unknown outcome: ${unknownRequests} requests (${stats.unknownEvents} events), re-sent ${stats.retried} times, of which committed before the kill: ${stats.committedBeforeKill}`,
          `  acked requests replayed after restarts: ${stats.replayed}`,
          `  events stored: ${total} (+${APPS.length} after the last restart), consistency proofs across kills: ${consistencyProofs}`,
        ].join('\n'),
      );
      expect(total).toBe(acked);
      expect(consistencyProofs, 'checkpoints were seen before the kills').toBeGreaterThan(0);
      await svc.stop();
    },
  );
});
