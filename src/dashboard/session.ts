// What the dashboard remembers: the API key for this tab only (sessionStorage) and whether its holder
// says it reads every log, the verifier key the user pinned (localStorage: it is public, and pinning it
// once is the point), and the verifyLog reports of this tab, so a log with a problem stays red on every
// screen.
import type { VerifyLogQuery } from './generated/graphql.js';

const KEY = 'chainlog.apiKey';
const READS_EVERY_LOG = 'chainlog.keyReadsEveryLog';
const PINNED = 'chainlog.pinnedVerifierKey';
const REPORTS = 'chainlog.verifyReports';

export type VerifyReport = VerifyLogQuery['verifyLog'] & { at: string };

export const session = {
  apiKey(): string | null {
    return sessionStorage.getItem(KEY);
  },
  setApiKey(key: string | null): void {
    // What the user said of the previous key is not said of this one.
    if (key !== this.apiKey()) sessionStorage.removeItem(READS_EVERY_LOG);
    if (key === null) sessionStorage.removeItem(KEY);
    else sessionStorage.setItem(KEY, key);
  },
  /**
   * The user says the API key reads every log (an AUDITOR or ADMIN key not limited to some logs), as
   * the auditor's --key-reads-every-log: erasure records withheld from it are then the server's doing.
   */
  keyReadsEveryLog(): boolean {
    return sessionStorage.getItem(READS_EVERY_LOG) === 'yes';
  },
  setKeyReadsEveryLog(says: boolean): void {
    if (says) sessionStorage.setItem(READS_EVERY_LOG, 'yes');
    else sessionStorage.removeItem(READS_EVERY_LOG);
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
