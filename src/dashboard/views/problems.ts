// Every known problem in one panel, newest first: verifyLog reports with their first bad position (and
// a button to run verifyLog), quarantined logs and why. Each kind of problem is a source below; witness
// health and federation inconsistencies join as two more sources once the API serves them.
import { query } from '../api.js';
import { errorText, h, link } from '../dom.js';
import { LogsDocument, type LogRowFragment, type LogsQuery } from '../generated/graphql.js';
import type { View } from '../context.js';
import { session } from '../session.js';
import { reportView, verifyButton } from './common.js';

interface Problem {
  /** Sorts the panel, newest first; null when the source cannot tell (listed last). */
  at: string | null;
  sourceAppId: string;
  kind: string;
  element: HTMLElement;
}

/** A kind of problem: what it is called, and the problems it finds among the logs the key may see. */
interface ProblemSource {
  title: string;
  find(logs: readonly LogRowFragment[]): Problem[];
}

const SOURCES: ProblemSource[] = [
  {
    title: 'verifyLog',
    find: () =>
      Object.values(session.reports())
        .filter((r) => !r.ok)
        .map((r) => ({
          at: r.at,
          sourceAppId: r.sourceAppId,
          kind: `first bad position ${r.firstBadSeq}`,
          element: reportView(r),
        })),
  },
  {
    title: 'Quarantine',
    find: (logs) =>
      logs
        .filter((l) => l.quarantine)
        .map((l) => ({ at: null, sourceAppId: l.sourceAppId, kind: 'quarantined', element: h('p', {}, l.quarantine ?? '') })),
  },
];

const MAX_LOGS = 500;
const REFRESH_MS = 5000;

export const renderProblems: View = (main) => {
  const list = h('ol', { class: 'problems', 'aria-label': 'Problems, newest first' });
  const runner = h('div', { class: 'inline' });
  const message = h('p', { role: 'alert' });
  main.append(
    h('h1', {}, 'Inconsistencies'),
    h('p', {}, `Checks: ${SOURCES.map((s) => s.title).join(', ')}.`),
    runner,
    message,
    list,
  );
  let logs: LogRowFragment[] = [];

  let shown: string | null = null;
  const draw = () => {
    const problems = SOURCES.flatMap((s) => s.find(logs).map((p) => ({ ...p, source: s.title })));
    problems.sort((a, b) => (b.at ?? '').localeCompare(a.at ?? ''));
    // Redrawn only when the problems changed, so a refresh never moves the keyboard focus.
    const signature = JSON.stringify(problems.map((p) => [p.source, p.sourceAppId, p.kind, p.at]));
    if (signature === shown) return;
    shown = signature;
    list.replaceChildren(
      ...problems.map((p) =>
        h(
          'li',
          { class: 'bad', 'data-app': p.sourceAppId },
          h('h2', {}, link(['log', p.sourceAppId], p.sourceAppId), ` — ${p.source}: ${p.kind}`),
          p.at ? h('p', { class: 'muted' }, h('time', { datetime: p.at }, p.at)) : null,
          p.element,
          verifyButton(p.sourceAppId, () => draw()),
        ),
      ),
    );
    if (problems.length === 0)
      list.replaceChildren(h('li', { class: 'ok' }, '✓ No problem known. Run verifyLog on a log to check it.'));
  };

  const select = h('select', { id: 'verify-log' });
  const holder = h('span');
  runner.replaceChildren(h('label', { for: 'verify-log' }, 'Log to verify'), select, holder);
  const pickButton = () =>
    holder.replaceChildren(
      verifyButton(select.value, (_r, err) => {
        message.textContent = err ? `verifyLog failed: ${err}` : '';
        draw();
      }),
    );
  select.addEventListener('change', pickButton);

  // Live: the logs (and their quarantine) are read again every few seconds while the panel is open.
  const load = async () => {
    try {
      const fresh: LogRowFragment[] = [];
      let after: string | null = null;
      do {
        const { logs: page }: LogsQuery = await query(LogsDocument, { first: 100, after });
        fresh.push(...page.nodes);
        after = page.pageInfo.hasNextPage ? (page.pageInfo.endCursor ?? null) : null;
      } while (after && fresh.length < MAX_LOGS);
      const firstLoad = logs.length === 0;
      logs = fresh;
      if (firstLoad) {
        select.replaceChildren(...logs.map((l) => h('option', { value: l.sourceAppId }, l.sourceAppId)));
        if (logs.length) pickButton();
      }
      message.textContent = '';
      draw();
    } catch (err) {
      message.textContent = errorText(err);
    }
  };
  void load();
  const timer = setInterval(() => {
    if (document.visibilityState === 'visible') void load();
  }, REFRESH_MS);
  draw();
  return () => clearInterval(timer);
};
