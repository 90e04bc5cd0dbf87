// The malformed-row tampers of malformed-tampers.ts against a live service (a child process) on each engine:
// the service keeps serving (serverInfo, verifyLog over GraphQL reports the first bad position), and the auditor
// CLI exits 1 naming that position with the expected finding (MALFORMED_EVENT where the server names the event,
// PROOF_UNAVAILABLE where it cannot find it). The CLI runs as users run it (one page, 3 random spot checks):
// whatever the spot checks pick, the first bad position is the page's, halved down to the event.
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCliService, type CliService } from '../support/cli-service.js';
import { startMongoTestServer, type MongoTestServer } from '../support/mongo-test-server.js';
import { buildLog, parseReport, verify } from './cli-harness.js';
import { APP, mongoMalformedTampers, sqliteMalformedTampers, type MalformedTamper } from './malformed-tampers.js';
import { cloneDb } from './mongo-tampers.js';
import { applySqliteTamper } from './sqlite-tampers.js';

async function gql(service: CliService, query: string): Promise<{ data?: any; errors?: Array<{ extensions?: { code?: string } }> }> {
  const res = await fetch(`${service.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query }) });
  return (await res.json()) as never;
}

/** The live service on a tampered store: still serving, its verifyLog reporting, the CLI finding the position. */
async function expectReportedLive(s: CliService, statePath: string, t: MalformedTamper<unknown>): Promise<void> {
  const [cli, report, info] = await Promise.all([
    verify(s, statePath, []),
    gql(s, `{ verifyLog(sourceAppId: "${APP}") { ok firstBadSeq problems { kind seq } } }`),
    gql(s, '{ serverInfo { version } }'),
  ]);
  expect(info.data?.serverInfo?.version, JSON.stringify(info)).toBeTypeOf('string');
  expect(report.errors, JSON.stringify(report.errors)).toBeUndefined();
  expect(report.data.verifyLog).toMatchObject({ ok: false, firstBadSeq: t.firstBadSeq });
  expect(report.data.verifyLog.problems.map((p: { kind: string }) => p.kind)).toEqual(expect.arrayContaining(t.kinds));
  const audit = parseReport(cli);
  expect(audit, cli.stdout).toMatchObject({ ok: false, stateUpdated: false });
  // A missing event, or one whose stored hash is malformed, also breaks the proofs of [seq - 1, seq) (their
  // right-hand compact range holds its leaf): the CLI then names seq - 1 for an odd seq, never a position
  // after it (as in cli.test.ts).
  const lowest = t.firstBadSeq - (t.firstBadSeq % 2);
  expect([lowest, t.firstBadSeq], cli.stdout).toContain(audit.firstBadSeq);
  expect(audit.findings.filter((f) => f.seq === audit.firstBadSeq).map((f) => f.kind), cli.stdout).toContain(t.cli);
}

describe('a live service on SQLite with malformed rows keeps serving; the auditor CLI names the position', () => {
  const work = mkdtempSync(join(tmpdir(), 'chainlog-malformed-cli-'));
  const pristineDir = join(work, 'pristine');

  beforeAll(async () => {
    const s = await startCliService({ dataDir: mkdtempSync(join(work, 'build-')) });
    try {
      await buildLog(s, join(work, 'pristine'));
    } finally {
      await s.stop();
    }
    cpSync(s.dataDir, pristineDir, { recursive: true });
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  for (const t of sqliteMalformedTampers) {
    it(t.name, async () => {
      const dir = join(work, t.name.replace(/[^a-z0-9]+/gi, '-'));
      cpSync(pristineDir, dir, { recursive: true });
      applySqliteTamper(join(dir, 'chainlog.db'), t.apply);
      const s = await startCliService({ dataDir: dir });
      try {
        await expectReportedLive(s, join(dir, 'state.json'), t);
      } finally {
        await s.stop();
      }
    }, 90_000);
  }
});

describe('a live service on MongoDB with malformed documents keeps serving; the auditor CLI names the position', () => {
  let server: MongoTestServer;
  let client: MongoClient;
  const keyDir = mkdtempSync(join(tmpdir(), 'chainlog-malformed-cli-mongo-'));
  const pristineDb = () => `${server.dbName}_cpristine`;
  const start = (dbName: string) => startCliService({ dataDir: keyDir, env: { MONGODB_URI: server.uri, MONGODB_DB: dbName } });

  beforeAll(async () => {
    server = await startMongoTestServer();
    client = new MongoClient(server.uri);
    const s = await start(pristineDb());
    try {
      await buildLog(s, join(keyDir, 'pristine'));
    } finally {
      await s.stop();
    }
  });
  afterAll(async () => {
    await client?.close();
    await server?.stop();
    rmSync(keyDir, { recursive: true, force: true });
  });

  mongoMalformedTampers.forEach((t, i) => {
    it(t.name, async () => {
      const dbName = `${server.dbName}_mc${i}`;
      await cloneDb(client, pristineDb(), dbName);
      await t.apply(client.db(dbName));
      let s: CliService | undefined;
      try {
        s = await start(dbName);
        await expectReportedLive(s, join(keyDir, `state-${i}.json`), t);
      } finally {
        await s?.stop();
        await client.db(dbName).dropDatabase();
      }
    }, 90_000);
  });
});
