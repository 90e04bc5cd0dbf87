// The overview: every log the key may see (paginated, searchable), its size, integrated size, latest
// checkpoint and its age, whether the witnesses' quorum cosigned it, and its state (red with a recorded
// inconsistency of its origin); the ingest rate and proof-ready latency as small charts; live.
import { prefetch, query, subscribe } from '../api.js';
import { sparkline } from '../chart.js';
import { age, button, errorText, h, kids, link } from '../dom.js';
import {
  CheckpointPublishedDocument,
  EventDocument,
  LogDocument,
  LogsDocument,
  type LogRowFragment,
} from '../generated/graphql.js';
import type { View } from '../context.js';
import { loadInconsistencies, loadWitnesses, prefetchFederation, witnessStatus } from '../federation.js';
import { stateBadge, stateOf } from './common.js';

const PAGE = 25;
const POLL_MS = 2000;
const SAMPLES = 60;

/** The first page's reads, sent ahead with the shell's (main.ts); `load(0)` takes them. */
export function prefetchOverview(): void {
  prefetch(LogsDocument, { first: PAGE, after: null });
  prefetchFederation();
}

export const renderOverview: View = (main, ctx) => {
  const cursors: (string | null)[] = [null];
  let page = 0;
  let rows: LogRowFragment[] = [];
  let hasNext = false;
  let search = '';
  let found: LogRowFragment | null | undefined;
  const ingest: number[] = [];
  const latency: number[] = [];
  let lastTotal: { at: number; total: number } | null = null;

  const searchInput = h('input', { id: 'log-search', type: 'search', placeholder: 'source application id', autocomplete: 'off' });
  const searchForm = h(
    'form',
    { role: 'search', class: 'inline' },
    h('label', { for: 'log-search' }, 'Find a log'),
    searchInput,
    h('button', { type: 'submit' }, 'Find'),
  );
  const charts = h('div', { class: 'charts' });
  const table = h('div', { class: 'table-wrap' });
  const pager = h('div', { class: 'pager' });
  const message = h('p', { role: 'alert' });
  main.append(h('h1', {}, 'Logs'), h('section', { 'aria-label': 'Server activity' }, charts), searchForm, message, table, pager);

  searchInput.addEventListener('input', () => {
    search = searchInput.value.trim();
    found = undefined;
    draw();
  });
  searchForm.addEventListener('submit', (e) => {
    e.preventDefault();
    search = searchInput.value.trim();
    if (!search) return draw();
    query(LogDocument, { sourceAppId: search, checkpoints: 0 })
      .then(({ log }) => {
        found = log;
        draw();
      })
      .catch((err: unknown) => {
        found = null;
        message.textContent = errorText(err);
        draw();
      });
  });

  function drawCharts(): void {
    charts.replaceChildren(
      sparkline({ label: 'Ingest rate (logs on this page)', unit: 'events/s', points: ingest }),
      sparkline({ label: 'Proof-ready latency', unit: 's', points: latency }),
    );
  }

  function draw(): void {
    const shown = found ? [found] : rows.filter((r) => r.sourceAppId.includes(search));
    const body = h('tbody');
    for (const r of shown) {
      const s = stateOf(r);
      const wit = witnessStatus(r.latestCheckpoint);
      body.append(
        h(
          'tr',
          { class: s.bad ? 'bad' : null, 'data-app': r.sourceAppId },
          h('th', { scope: 'row' }, link(['log', r.sourceAppId], r.sourceAppId)),
          h('td', { class: 'num' }, r.size),
          h('td', { class: 'num' }, r.integratedSize),
          h('td', { class: 'num' }, r.latestCheckpoint ? r.latestCheckpoint.treeSize : '—'),
          h(
            'td',
            {},
            r.latestCheckpoint
              ? h(
                  'time',
                  { datetime: r.latestCheckpoint.publishedAt, title: r.latestCheckpoint.publishedAt },
                  age(r.latestCheckpoint.publishedAt),
                )
              : 'none yet',
          ),
          h('td', { class: `witnessed ${wit.cls}` }, wit.text),
          h('td', {}, stateBadge(r)),
        ),
      );
    }
    table.replaceChildren(
      ...kids(
        h(
          'table',
          { class: 'logs' },
          h(
            'caption',
            {},
            found ? `The log ${found.sourceAppId}` : `Logs, page ${page + 1}${search ? `, names containing “${search}”` : ''}`,
          ),
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              ...['Log', 'Size', 'Integrated', 'Latest checkpoint', 'Checkpoint age', 'Witnessed', 'State'].map((c) =>
                h('th', { scope: 'col' }, c),
              ),
            ),
          ),
          body,
        ),
        shown.length === 0 ? h('p', {}, found === null ? `No log named “${search}” that this key may see.` : 'No logs.') : null,
      ),
    );
    const prev = button('Previous page', () => void load(page - 1));
    prev.disabled = page === 0;
    const next = button('Next page', () => void load(page + 1));
    next.disabled = !hasNext;
    pager.replaceChildren(prev, next);
  }

  async function load(p: number): Promise<void> {
    try {
      // The witnesses (is there a policy?) and the inconsistencies (is a log red?) with the page; a
      // failure to read them leaves the logs shown as they were known.
      const [{ logs }] = await Promise.all([
        query(LogsDocument, { first: PAGE, after: cursors[p] ?? null }),
        loadWitnesses().catch(() => undefined),
        loadInconsistencies().catch(() => undefined),
      ]);
      page = p;
      rows = logs.nodes;
      hasNext = logs.pageInfo.hasNextPage;
      if (logs.pageInfo.endCursor) cursors[p + 1] = logs.pageInfo.endCursor;
      const now = performance.now();
      const total = rows.reduce((n, r) => n + r.size, 0);
      if (lastTotal && now > lastTotal.at) push(ingest, Math.max(0, ((total - lastTotal.total) * 1000) / (now - lastTotal.at)));
      lastTotal = { at: now, total };
      message.textContent = '';
      draw();
      drawCharts();
      // The first screen is usable from here: the mark lets a test or a person (DevTools) measure it.
      if (performance.getEntriesByName('chainlog:first-screen').length === 0) performance.mark('chainlog:first-screen');
    } catch (err) {
      message.textContent = errorText(err);
    }
  }

  // Proof-ready latency: from the receipt of the newest event a new checkpoint covers to the checkpoint.
  let lastLatencyAt = 0;
  const unsubscribe = subscribe(
    CheckpointPublishedDocument,
    {},
    ({ checkpointPublished: { checkpoint } }) => {
      if (Date.now() - lastLatencyAt < 1000) return;
      lastLatencyAt = Date.now();
      query(EventDocument, { id: `${checkpoint.sourceAppId}/${checkpoint.treeSize - 1}` })
        .then(({ event }) => {
          if (!event) return;
          push(latency, Math.max(0, (Date.parse(checkpoint.publishedAt) - Date.parse(event.receivedAt)) / 1000));
          drawCharts();
        })
        .catch(() => undefined);
    },
    (err) => ctx.announce(`Live checkpoints stopped: ${err.message}`),
  );
  const timer = setInterval(() => {
    if (document.visibilityState === 'visible' && found === undefined) void load(page);
  }, POLL_MS);
  drawCharts();
  void load(0);
  return () => {
    clearInterval(timer);
    unsubscribe();
  };
};

function push(series: number[], v: number): void {
  series.push(v);
  if (series.length > SAMPLES) series.shift();
}
