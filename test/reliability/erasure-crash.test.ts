// Crash safety of erasure: the real service (engine of the vitest project) is SIGKILLed while an
// eraseEvents call is in flight, either as soon as the request is sent or as soon as its record shows in
// the erasures log, then restarted on the same DATA_DIR. After each restart an erasure is all or nothing:
// every event a record lists has lost its payload, and no event has lost its payload without a record;
// verifyLog of the log and of the erasures log is clean.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { e2eEngineEnv } from '../support/e2e-engine.js';
import { ServiceProcess, startOnFreePort } from '../support/service-process.js';
import { until } from '../support/wait.js';

const ADMIN = 'clk_erasure-crash-admin-key-0123456789abcdef';
const APP = 'crash-erase';
const USERS = 3;
const EVENTS = 2400;
const dirs: string[] = [];

afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function gql(url: string, query: string, variables?: Record<string, unknown>) {
  const res = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': ADMIN },
    body: JSON.stringify({ query, variables }),
  });
  return (await res.json()) as { data?: any; errors?: Array<{ message: string; extensions?: any }> };
}

const ERASE = `mutation($in: EraseEventsInput!) { eraseEvents(input: $in) { erased recordId more } }`;

async function erasuresSize(url: string): Promise<number> {
  const r = await gql(url, `{ log(sourceAppId: "_erasures") { size } }`);
  return r.data?.log?.size ?? 0;
}

/** All events of a log by seq: payload present or not. */
async function eventsOf(url: string, app: string): Promise<Array<{ seq: number; payload: unknown; erasedAt: string | null }>> {
  const out: Array<{ seq: number; payload: unknown; erasedAt: string | null }> = [];
  let after: string | null = null;
  for (;;) {
    const r = await gql(
      url,
      `query($app: String!, $after: String) { events(filter: { sourceAppIds: [$app] }, order: ASC, first: 500, after: $after) {
        nodes { seq payload erasedAt } pageInfo { hasNextPage endCursor } } }`,
      { app, after },
    );
    expect(r.errors).toBeUndefined();
    out.push(...r.data.events.nodes);
    if (!r.data.events.pageInfo.hasNextPage) return out;
    after = r.data.events.pageInfo.endCursor;
  }
}

describe('a SIGKILL in the middle of an erasure', () => {
  it('leaves every erasure whole or absent after the restart', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'chainlog-erasure-crash-'));
    dirs.push(dataDir);
    const proc = await startOnFreePort(
      (port) =>
        new ServiceProcess(port, dataDir, {
          AUTH: 'on',
          ADMIN_API_KEY: ADMIN,
          CHECKPOINT_INTERVAL_MS: '200',
          ...e2eEngineEnv('erasurecrash'),
        }),
    );
    try {
      for (let i = 0; i < EVENTS; i += 600) {
        const inputs = Array.from({ length: 600 }, (_, j) => ({
          sourceAppId: APP,
          eventType: 'user.seen',
          timestamp: new Date(Date.UTC(2026, 0, 1) + i + j).toISOString(),
          payload: { userId: `u${(i + j) % USERS}`, n: i + j, pad: 'x'.repeat(200) },
        }));
        const r = await gql(proc.url, `mutation($in: [LogEventInput!]!) { logEvents(inputs: $in) { seq } }`, { in: inputs });
        expect(r.errors).toBeUndefined();
      }
      // Each round kills at another moment: as soon as the request is on its way, or once its record is committed.
      const moments = ['sent', 'recorded', 'recorded', 'sent'] as const;
      for (const [round, moment] of moments.entries()) {
        const before = await erasuresSize(proc.url);
        const call = gql(proc.url, ERASE, {
          in: { reason: `crash round ${round}`, sourceAppId: APP, payloadField: { path: 'userId', equals: `u${round % USERS}` } },
        }).catch(() => null); // the connection dies with the process
        if (moment === 'recorded')
          await until('the erasure record', async () => (await erasuresSize(proc.url)) > before, { intervalMs: 2 });
        await proc.kill();
        await call;
        await proc.start();

        const events = await eventsOf(proc.url, APP);
        expect(events).toHaveLength(EVENTS);
        const records = await eventsOf(proc.url, '_erasures');
        const listed = new Set<number>();
        for (const r of records)
          for (const [app, seq] of (r.payload as { events: Array<[string, number]> }).events) if (app === APP) listed.add(seq);
        const erased = new Set(events.filter((e) => e.payload === null).map((e) => e.seq));
        // All of each recorded erasure, none without a record.
        expect(
          [...listed].filter((s) => !erased.has(s)),
          `round ${round} (${moment}): listed but not erased`,
        ).toEqual([]);
        expect(
          [...erased].filter((s) => !listed.has(s)),
          `round ${round} (${moment}): erased but not listed`,
        ).toEqual([]);
        for (const e of events) expect(e.payload === null).toBe(e.erasedAt !== null);
        // The erasures log exists once something was recorded.
        for (const app of records.length > 0 ? [APP, '_erasures'] : [APP]) {
          const v = await gql(
            proc.url,
            `query($app: String!) { verifyLog(sourceAppId: $app) { ok eventsErased problems { kind seq message } } }`,
            { app },
          );
          expect(v.errors, `verifyLog ${app}`).toBeUndefined();
          expect(v.data.verifyLog.problems, `verifyLog ${app}`).toEqual([]);
          if (app === APP) expect(v.data.verifyLog.eventsErased).toBe(erased.size);
        }
      }
    } finally {
      await proc.stop();
    }
  }, 300_000);
});
