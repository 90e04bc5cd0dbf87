// What the dashboard remembers: the API key for this tab only (sessionStorage), the verifier key the
// user pinned (localStorage: it is public, and pinning it once is the point), and the verifyLog
// reports of this tab, so a log with a problem stays red on every screen.
import type { VerifyLogQuery } from './generated/graphql.js';

const KEY = 'chainlog.apiKey';
const PINNED = 'chainlog.pinnedVerifierKey';
const REPORTS = 'chainlog.verifyReports';

export type VerifyReport = VerifyLogQuery['verifyLog'] & { at: string };

export const session = {
  apiKey(): string | null {
    return sessionStorage.getItem(KEY);
  },
  setApiKey(key: string | null): void {
    if (key === null) sessionStorage.removeItem(KEY);
    else sessionStorage.setItem(KEY, key);
  },
  pinnedKey(): string | null {
    return localStorage.getItem(PINNED);
  },
  setPinnedKey(key: string | null): void {
    if (key === null) localStorage.removeItem(PINNED);
    else localStorage.setItem(PINNED, key);
  },
  reports(): Record<string, VerifyReport> {
    try {
      return JSON.parse(sessionStorage.getItem(REPORTS) ?? '{}') as Record<string, VerifyReport>;
    } catch {
      return {};
    }
  },
  saveReport(report: VerifyReport): void {
    const all = this.reports();
    all[report.sourceAppId] = report;
    sessionStorage.setItem(REPORTS, JSON.stringify(all));
  },
  /** The first bad position verifyLog found in this tab for the log, or null when it found none. */
  problemOf(sourceAppId: string): VerifyReport | null {
    const r = this.reports()[sourceAppId];
    return r && !r.ok ? r : null;
  },
};
