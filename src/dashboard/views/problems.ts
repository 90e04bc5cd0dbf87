// Every known problem in one panel, newest first: verifyLog reports with their first bad position (and
// a button to run verifyLog), quarantined logs and why, witnesses that are failing, and the federation's
// inconsistencies with their evidence to download. Each kind of problem is a source below.
import { query, subscribe } from '../api.js';
import { button, errorText, h, kids, link } from '../dom.js';
import { addInconsistency, downloadEvidence, federation, isFailing, loadInconsistencies, loadWitnesses } from '../federation.js';
import { InconsistencyDetectedDocument, LogsDocument, type LogRowFragment, type LogsQuery } from '../generated/graphql.js';
import type { View } from '../context.js';
import { session } from '../session.js';
import { reportView, verifyButton } from './common.js';

interface Problem {
  /** Sorts the panel, newest first; null when the source cannot tell (listed last). */
  at: string | null;
  /** The log it is about, linked and with a verifyLog button; null for a witness or another server's log. */
  sourceAppId: string | null;
  /** What the heading names when there is no log of this server: the witness, the origin. */
  subject?: string;
  kind: string;
  element: HTMLElement;
  /** `at` changes on every refresh (a witness failing again): left out of the check that redraws. */
  volatileAt?: boolean;
}

/** A kind of problem: what it is called, and the problems it finds among the logs the key may see. */
interface ProblemSource {
  title: string;
  find(logs: readonly LogRowFragment[]): Problem[];
}

const DETECTED_BY: Record<string, string> = {
  WITNESS: 'this server’s witness',
  MIRROR: 'this server’s mirror',
  PEER: 'the comparison with a peer',
};

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
  {
    title: 'Witnesses',
    find: () =>
      (federation.witnesses ?? []).filter(isFailing).map((w) => ({
        at: w.lastErrorAt,
        volatileAt: true,
        sourceAppId: null,
        subject: `witness ${w.name}`,
        kind: w.lastSuccessAt ? 'failing' : 'failing, never cosigned',
        element: h(
          'div',
          { 'data-witness': w.name },
          h('p', {}, 'Last error: ', h('code', {}, w.lastError ?? '')),
          h(
            'p',
            { class: 'muted' },
            `Submits to ${w.url}; last cosignature ${w.lastSuccessAt ?? 'never (since the server started)'}; behind by ${w.lag}.`,
          ),
        ),
      })),
  },
  {
    title: 'Federation inconsistencies',
    find: () =>
      federation.inconsistencies.map((i) => ({
        at: i.detectedAt,
        sourceAppId: i.sourceAppId,
        subject: i.origin,
        kind: `${i.kind}${i.proven ? ' (proven fork)' : ' (unproven)'}`,
        element: h(
          'div',
          { 'data-inconsistency': i.id },
          h(
            'dl',
            { class: 'facts' },
            h('dt', {}, 'Kind'),
            h('dd', {}, i.kind),
            h('dt', {}, 'Origin'),
            h('dd', {}, h('code', {}, i.origin)),
            h('dt', {}, 'Detected by'),
            h('dd', {}, `${DETECTED_BY[i.detectedBy] ?? i.detectedBy}: `, h('code', {}, i.source)),
          ),
          button(`Download the evidence (${i.origin})`, () => downloadEvidence(i), { class: 'evidence' }),
          h('p', { class: 'muted' }, 'Check it offline: npm run verify -- --evidence <file> --key <the log’s verifier key>'),
        ),
      })),
  },
];

const MAX_LOGS = 500;
const REFRESH_MS = 5000;

export const renderProblems: View = (main, ctx) => {
  const list = h('ol', { class: 'problems', 'aria-label': 'Problems, newest first' });
  const runner = h('div', { class: 'inline' });
  const message = h('p', { role: 'alert' });
  const notes = h('div', { class: 'notes' });
  main.append(
    h('h1', {}, 'Inconsistencies'),
    h('p', {}, `Checks: ${SOURCES.map((s) => s.title).join(', ')}.`),
    notes,
    runner,
    message,
    list,
  );
  let live: 'off' | 'on' | 'stopped' = 'off';
  // Once live, the list is read once more: what was recorded while the subscription was starting.
  let recheck = true;
  const drawNotes = () =>
    notes.replaceChildren(
      ...kids(
        federation.forbidden
          ? h(
              'p',
              { class: 'warn', 'data-note': 'forbidden' },
              'Federation inconsistencies need an AUDITOR or ADMIN key: this key may not read them. Sign in with an auditor key to see them.',
            )
          : null,
        federation.moreInconsistencies
          ? h('p', { class: 'muted' }, `Only the newest ${federation.inconsistencies.length} inconsistencies are shown.`)
          : null,
        live === 'stopped'
          ? h('p', { class: 'muted' }, 'Live inconsistencies stopped; the list is read again every few seconds.')
          : null,
        federation.witnesses && federation.witnesses.length === 0
          ? h('p', { class: 'muted' }, 'This server has no witness policy: its checkpoints are not witnessed.')
          : null,
      ),
    );
  let logs: LogRowFragment[] = [];

  let shown: string | null = null;
  const draw = () => {
    const problems = SOURCES.flatMap((s) => s.find(logs).map((p) => ({ ...p, source: s.title })));
    problems.sort((a, b) => (b.at ?? '').localeCompare(a.at ?? ''));
    // Redrawn only when the problems changed, so a refresh never moves the keyboard focus.
    const signature = JSON.stringify(
      problems.map((p) => [p.source, p.sourceAppId, p.subject, p.kind, p.volatileAt ? null : p.at]),
    );
    if (signature === shown) return;
    shown = signature;
    list.replaceChildren(
      ...problems.map((p) =>
        h(
          'li',
          { class: 'bad', 'data-app': p.sourceAppId, 'data-source': p.source },
          h('h2', {}, p.sourceAppId ? link(['log', p.sourceAppId], p.sourceAppId) : p.subject, ` — ${p.source}: ${p.kind}`),
          p.at ? h('p', { class: 'muted' }, h('time', { datetime: p.at }, p.at)) : null,
          p.element,
          p.sourceAppId ? verifyButton(p.sourceAppId, () => draw()) : null,
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

  // Live: the logs (and their quarantine) and the witnesses' health are read again every few seconds
  // while the panel is open; inconsistencies arrive through inconsistencyDetected (read again only
  // when the subscription stopped).
  const load = async () => {
    try {
      await Promise.all([loadWitnesses(), live === 'on' && !recheck ? Promise.resolve() : loadInconsistencies()]);
      if (live === 'on') recheck = false;
      drawNotes();
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
  let unsubscribe: () => void = () => undefined;
  let stopped = false;
  void load().then(() => {
    if (federation.forbidden || stopped) return;
    live = 'on';
    list.setAttribute('data-live', 'on');
    unsubscribe = subscribe(
      InconsistencyDetectedDocument,
      {},
      ({ inconsistencyDetected }) => {
        addInconsistency(inconsistencyDetected);
        ctx.announce(`Inconsistency detected: ${inconsistencyDetected.kind} of ${inconsistencyDetected.origin}`);
        draw();
      },
      (err) => {
        live = 'stopped';
        list.setAttribute('data-live', 'stopped');
        ctx.announce(`Live inconsistencies stopped: ${err.message}`);
        drawNotes();
      },
    );
  });
  const timer = setInterval(() => {
    if (document.visibilityState === 'visible') void load();
  }, REFRESH_MS);
  draw();
  return () => {
    stopped = true;
    clearInterval(timer);
    unsubscribe();
  };
};
