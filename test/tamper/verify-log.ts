// What the verifyLog campaigns (SQLite and MongoDB) expect of a tamper, and the check of a report against it.
import { expect } from 'vitest';
import type { VerificationProblemKind, VerificationReport } from '../../src/log/service.js';

export interface VerifyLogFinding {
  /** Kinds that must be among the report's problems. */
  kinds: VerificationProblemKind[];
  /** The report's first bad position. */
  firstBadSeq: number;
}

/** The report must fail, at `want.firstBadSeq`, with every kind of `want.kinds` among its problems. */
export function expectVerifyLogFinds(report: VerificationReport, want: VerifyLogFinding): void {
  expect(report.ok).toBe(false);
  expect(report.firstBadSeq).toBe(want.firstBadSeq);
  const kinds = report.problems.map((x) => x.kind);
  for (const k of want.kinds) expect(kinds).toContain(k);
}
