// The malformed-row tampers of malformed-tampers.ts against a live service (a child process) on each engine:
// the service keeps serving (serverInfo, verifyLog over GraphQL reports the first bad position), and the auditor
// CLI exits 1 naming that position with the expected finding (MALFORMED_EVENT where the server names the event,
// PROOF_UNAVAILABLE where it cannot find it). The CLI runs as users run it (one page, 3 random spot checks):
// whatever the spot checks pick, the first bad position is the page's, halved down to the event.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { CliService } from '../support/cli-service.js';
import { parseReport, verify } from './cli-harness.js';
import { APP, mongoMalformedTampers, sqliteMalformedTampers, type MalformedTamper } from './malformed-tampers.js';
import { buildCliLogOnMongo, startCliServiceOnMongo, useMongoCampaign, useSqliteCliCampaign } from './support/campaign.js';

async function gql(
  service: CliService,
  query: string,
): Promise<{ data?: any; errors?: Array<{ extensions?: { code?: string } }> }> {
  const res = await fetch(`${service.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query }),
  });
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
  expect(
    audit.findings.filter((f) => f.seq === audit.firstBadSeq).map((f) => f.kind),
    cli.stdout,
  ).toContain(t.cli);
}

describe('a live service on SQLite with malformed rows keeps serving; the auditor CLI names the position', () => {
  const campaign = useSqliteCliCampaign('malformed-cli');

  for (const t of sqliteMalformedTampers) {
    it(
      t.name,
      async () => {
        const s = await campaign.tamperedService(t.name, t.apply);
        try {
          await expectReportedLive(s, join(s.dataDir, 'state.json'), t);
        } finally {
          await s.stop();
        }
      },
      90_000,
    );
  }
});

describe('a live service on MongoDB with malformed documents keeps serving; the auditor CLI names the position', () => {
  const campaign = useMongoCampaign('mc', buildCliLogOnMongo);

  mongoMalformedTampers.forEach((t, i) => {
    it(
      t.name,
      async () => {
        await campaign.onClone(i, t.apply, async (dbName) => {
          let s: CliService | undefined;
          try {
            s = await startCliServiceOnMongo(campaign.server, campaign.keyDir, dbName);
            await expectReportedLive(s, join(campaign.keyDir, `state-${i}.json`), t);
          } finally {
            await s?.stop();
          }
        });
      },
      90_000,
    );
  });
});
