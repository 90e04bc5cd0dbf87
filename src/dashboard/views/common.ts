// Pieces several screens share: a log's state (red when anything is wrong with it) and verifyLog.
import { query } from '../api.js';
import { button, errorText, h } from '../dom.js';
import { inconsistencyOf } from '../federation.js';
import { VerifyLogDocument } from '../generated/graphql.js';
import { session, type VerifyReport } from '../session.js';

export interface LogState {
  sourceAppId: string;
  quarantine?: string | null;
  /** The log's origin: a recorded inconsistency of that origin makes it red. */
  origin?: string | null;
}

/** The words for a log's state, and whether it is a problem. */
export function stateOf(log: LogState): { bad: boolean; text: string } {
  const problem = session.problemOf(log.sourceAppId);
  if (problem) return { bad: true, text: `verifyLog: first bad position ${problem.firstBadSeq}` };
  const fork = inconsistencyOf(log);
  if (fork) return { bad: true, text: `inconsistency: ${fork.kind} (${fork.detectedBy.toLowerCase()})` };
  if (log.quarantine) return { bad: true, text: `quarantined: ${log.quarantine}` };
  return { bad: false, text: 'no problem known' };
}

export function stateBadge(log: LogState): HTMLElement {
  const s = stateOf(log);
  return h('span', { class: s.bad ? 'badge bad' : 'badge ok' }, s.bad ? '✗ ' : '✓ ', s.text);
}

/** A button that runs verifyLog for the log and reports through `done`. */
export function verifyButton(
  sourceAppId: string,
  done: (report: VerifyReport | null, error: string | null) => void,
): HTMLButtonElement {
  const b = button(`Run verifyLog for ${sourceAppId}`, () => {
    b.disabled = true;
    b.textContent = 'Verifying…';
    query(VerifyLogDocument, { sourceAppId })
      .then(({ verifyLog }) => {
        const report = { ...verifyLog, at: new Date().toISOString() };
        session.saveReport(report);
        done(report, null);
      })
      .catch((err: unknown) => done(null, errorText(err)))
      .finally(() => {
        b.disabled = false;
        b.textContent = `Run verifyLog for ${sourceAppId}`;
      });
  });
  return b;
}

export function reportView(r: VerifyReport): HTMLElement {
  return h(
    'div',
    { class: r.ok ? 'report ok' : 'report bad' },
    h(
      'p',
      {},
      r.ok
        ? `✓ verifyLog found no problem in ${r.eventsChecked} events and ${r.checkpointsChecked} checkpoints (${r.at}).`
        : `✗ verifyLog found ${r.problems.length} problem(s); first bad position ${r.firstBadSeq} (${r.at}).`,
    ),
    r.problems.length
      ? h('ul', {}, ...r.problems.slice(0, 20).map((p) => h('li', {}, h('code', {}, p.kind), ` at ${p.seq}: `, p.message)))
      : null,
  );
}
