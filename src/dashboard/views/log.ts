// A log's chain: its checkpoints (the blocks) as a timeline, the witnessed ones marked with their
// cosignatures; its events page by page with the
// checkpoint that covers them, each with position, type, time, a one-line payload preview (text) and
// the link from its prevHash to the previous event; filters by type and time; a live tail that pauses.
import { query, subscribe } from '../api.js';
import { age, button, errorText, h, kids, link, preview, shortHash } from '../dom.js';
import {
  EventsDocument,
  EventLoggedDocument,
  LogDocument,
  type CheckpointFieldsFragment,
  type EventFieldsFragment,
  type EventFilter,
  type LogQuery,
} from '../generated/graphql.js';
import type { View } from '../context.js';
import { loadInconsistencies, loadWitnesses, witnessStatus } from '../federation.js';
import { reportView, stateBadge, verifyButton } from './common.js';

const PAGE = 50;
const CHECKPOINTS = 12;
const TAIL = 50;

export const renderLog: View = (main, ctx, [sourceAppId = '']) => {
  let log: NonNullable<LogQuery['log']> | null = null;
  const checkpoints: CheckpointFieldsFragment[] = [];
  let checkpointCursor: string | null = null;
  let filter: EventFilter = { sourceAppIds: [sourceAppId] };
  let pageInfo = { after: null as string | null, before: null as string | null, hasOlder: false, hasNewer: false };
  let events: EventFieldsFragment[] = [];

  const title = h('h1', {}, `Log ${sourceAppId}`);
  const summary = h('div', { class: 'summary' });
  const report = h('div');
  const timeline = h('ol', { class: 'timeline', 'aria-label': 'Checkpoints, newest first' });
  const moreCheckpoints = button('Older checkpoints', () => void loadCheckpoints());
  const message = h('p', { role: 'alert' });
  const eventsTable = h('div', { class: 'table-wrap' });
  const pager = h('div', { class: 'pager' });
  const tailList = h('ol', { class: 'tail', 'aria-label': 'Live events, newest first' });
  const tailNote = h('p', { class: 'muted', role: 'status' });

  const typeInput = h('input', { id: 'f-type', name: 'type', placeholder: 'e.g. user.login, payment' });
  const fromInput = h('input', { id: 'f-from', name: 'from', type: 'datetime-local', step: 1 });
  const toInput = h('input', { id: 'f-to', name: 'to', type: 'datetime-local', step: 1 });
  const filters = h(
    'form',
    { class: 'filters', 'aria-label': 'Filter events' },
    h('label', { for: 'f-type' }, 'Types (comma separated)'),
    typeInput,
    h('label', { for: 'f-from' }, 'From (UTC)'),
    fromInput,
    h('label', { for: 'f-to' }, 'To (UTC)'),
    toInput,
    h('button', { type: 'submit' }, 'Apply'),
  );
  filters.addEventListener('submit', (e) => {
    e.preventDefault();
    const types = typeInput.value
      .split(',')
      .map((t) => t.trim())
      .filter(Boolean);
    filter = {
      sourceAppIds: [sourceAppId],
      ...(types.length && { eventTypes: types }),
      ...(fromInput.value && { from: new Date(`${fromInput.value}Z`).toISOString() }),
      ...(toInput.value && { to: new Date(`${toInput.value}Z`).toISOString() }),
    };
    void loadEvents({});
  });

  let paused = false;
  let held: EventFieldsFragment[] = [];
  const pause = button(
    'Pause',
    () => {
      paused = !paused;
      pause.textContent = paused ? 'Resume' : 'Pause';
      pause.setAttribute('aria-pressed', String(paused));
      if (!paused) {
        for (const e of held) addTail(e);
        held = [];
      }
      tailNote.textContent = paused ? 'Paused: new events are held until you resume.' : '';
    },
    { 'aria-pressed': 'false' },
  );

  main.append(
    h('p', {}, link([], '← All logs')),
    title,
    summary,
    report,
    h('section', { 'aria-labelledby': 'cp-title' }, h('h2', { id: 'cp-title' }, 'Checkpoints'), timeline, moreCheckpoints),
    h('section', { 'aria-labelledby': 'tail-title' }, h('h2', { id: 'tail-title' }, 'Live tail'), pause, tailNote, tailList),
    h('section', { 'aria-labelledby': 'ev-title' }, h('h2', { id: 'ev-title' }, 'Events'), filters, message, eventsTable, pager),
  );

  function drawSummary(): void {
    if (!log) return;
    title.className = stateBadge(log).classList.contains('bad') ? 'bad' : '';
    summary.replaceChildren(
      h(
        'dl',
        { class: 'facts' },
        h('dt', {}, 'Size'),
        h('dd', {}, log.size),
        h('dt', {}, 'Integrated'),
        h('dd', {}, log.integratedSize),
        h('dt', {}, 'Latest checkpoint'),
        h(
          'dd',
          {},
          log.latestCheckpoint
            ? `size ${log.latestCheckpoint.treeSize}, ${age(log.latestCheckpoint.publishedAt)} ago`
            : 'none yet',
        ),
        h('dt', {}, 'Witnessed'),
        h('dd', { class: witnessStatus(log.latestCheckpoint).cls }, witnessStatus(log.latestCheckpoint).text),
        h('dt', {}, 'Origin'),
        h('dd', {}, h('code', {}, log.origin)),
        h('dt', {}, 'State'),
        h('dd', {}, stateBadge(log)),
      ),
      verifyButton(sourceAppId, (r, err) => {
        report.replaceChildren(r ? reportView(r) : h('p', { class: 'bad', role: 'alert' }, `verifyLog failed: ${err}`));
        drawSummary();
        drawEvents();
      }),
    );
  }

  async function loadCheckpoints(): Promise<void> {
    try {
      const { log: l } = await query(LogDocument, { sourceAppId, checkpoints: CHECKPOINTS, after: checkpointCursor });
      if (!l) {
        message.textContent = `No log ${sourceAppId} that this key may see.`;
        return;
      }
      log = l;
      checkpoints.push(...l.checkpoints.nodes);
      checkpointCursor = l.checkpoints.pageInfo.endCursor ?? null;
      moreCheckpoints.hidden = !l.checkpoints.pageInfo.hasNextPage;
      drawSummary();
      timeline.replaceChildren(
        ...checkpoints.map((c, i) => {
          const older = checkpoints[i + 1];
          return h(
            'li',
            { class: c.witnessed ? 'witnessed' : null, 'data-size': c.treeSize },
            h('strong', {}, `size ${c.treeSize}`),
            ' ',
            h('time', { datetime: c.publishedAt }, c.publishedAt),
            h('br'),
            h(
              'span',
              { class: 'muted' },
              older ? `events ${older.treeSize}–${c.treeSize - 1}` : `events 0–${c.treeSize - 1}`,
              ' · root ',
              h('code', {}, shortHash(c.rootHash)),
            ),
            c.witnessed ? h('p', { class: 'ok witness-mark' }, '✓ witnessed (quorum cosigned)') : null,
            c.cosignatures.length
              ? h(
                  'ul',
                  { class: 'cosignatures', 'aria-label': `Cosignatures of the checkpoint of size ${c.treeSize}` },
                  ...c.cosignatures.map((k) =>
                    h(
                      'li',
                      {},
                      h('strong', {}, k.witness),
                      ' key ',
                      h('code', {}, k.keyId),
                      ' at ',
                      h('time', { datetime: k.timestamp }, k.timestamp),
                    ),
                  ),
                )
              : null,
          );
        }),
      );
      if (checkpoints.length === 0) timeline.replaceChildren(h('li', {}, 'No checkpoint yet.'));
      drawEvents();
    } catch (err) {
      message.textContent = errorText(err);
    }
  }

  /** The smallest loaded checkpoint covering `seq`, if any. */
  function coveringCheckpoint(seq: number): number | null {
    let best: number | null = null;
    for (const c of checkpoints) if (c.treeSize > seq && (best === null || c.treeSize < best)) best = c.treeSize;
    return best;
  }

  function drawEvents(): void {
    const body = h('tbody');
    let lastBlock: number | null | undefined;
    const bySeq = new Map(events.map((e) => [e.seq, e]));
    const problem = log ? stateBadge(log).classList.contains('bad') : false;
    for (const e of events) {
      const block = coveringCheckpoint(e.seq);
      if (block !== lastBlock) {
        body.append(
          h(
            'tr',
            { class: 'block' },
            h(
              'th',
              { colspan: 6, scope: 'rowgroup' },
              block === null ? 'Not yet in a checkpoint' : `In checkpoint of size ${block}`,
            ),
          ),
        );
        lastBlock = block;
      }
      const prev = bySeq.get(e.seq - 1);
      const linkOk = prev ? prev.hash === e.prevHash : null;
      body.append(
        h(
          'tr',
          { class: linkOk === false ? 'bad' : null },
          h('td', { class: 'num' }, link(['event', e.sourceAppId, e.seq], e.seq)),
          h('td', {}, e.eventType),
          h('td', {}, h('time', { datetime: e.timestamp }, e.timestamp)),
          h('td', { class: 'preview' }, e.erasedAt ? `(payload erased ${e.erasedAt})` : preview(e.payload)),
          h(
            'td',
            {},
            e.seq === 0
              ? h('span', { class: 'muted' }, 'genesis (zeros)')
              : link(['event', e.sourceAppId, e.seq - 1], h('code', {}, shortHash(e.prevHash)), ` → ${e.seq - 1}`),
            linkOk === true ? h('span', { class: 'ok', title: 'equals the hash of the previous event' }, ' ✓') : null,
            linkOk === false ? h('span', { class: 'bad' }, ' ✗ not the previous event’s hash') : null,
          ),
          h('td', {}, h('code', {}, shortHash(e.hash))),
        ),
      );
    }
    eventsTable.replaceChildren(
      ...kids(
        h(
          'table',
          { class: problem ? 'events bad' : 'events' },
          h('caption', {}, 'Events, newest first'),
          h(
            'thead',
            {},
            h('tr', {}, ...['Position', 'Type', 'Time', 'Payload', 'prevHash', 'Hash'].map((c) => h('th', { scope: 'col' }, c))),
          ),
          body,
        ),
        events.length === 0 ? h('p', {}, 'No events match.') : null,
      ),
    );
    const newer = button('Newer events', () => void loadEvents({ before: pageInfo.before }));
    newer.disabled = !pageInfo.hasNewer;
    const older = button('Older events', () => void loadEvents({ after: pageInfo.after }));
    older.disabled = !pageInfo.hasOlder;
    pager.replaceChildren(newer, older);
  }

  async function loadEvents(at: { after?: string | null; before?: string | null }): Promise<void> {
    try {
      const vars = at.before ? { filter, last: PAGE, before: at.before } : { filter, first: PAGE, after: at.after ?? null };
      const { events: page } = await query(EventsDocument, vars);
      events = page.nodes;
      pageInfo = {
        after: page.pageInfo.endCursor ?? null,
        before: page.pageInfo.startCursor ?? null,
        hasOlder: at.before ? true : page.pageInfo.hasNextPage,
        hasNewer: at.before ? page.pageInfo.hasPreviousPage : Boolean(at.after),
      };
      message.textContent = '';
      drawEvents();
      if (performance.getEntriesByName('chainlog:log-events').length === 0) performance.mark('chainlog:log-events');
    } catch (err) {
      message.textContent = errorText(err);
    }
  }

  function addTail(e: EventFieldsFragment): void {
    tailList.prepend(
      h(
        'li',
        { 'data-seq': e.seq },
        link(['event', e.sourceAppId, e.seq], `#${e.seq}`),
        ' ',
        h('span', { class: 'type' }, e.eventType),
        ' ',
        h('time', { datetime: e.receivedAt }, e.receivedAt),
        ' ',
        h('span', { class: 'preview' }, e.erasedAt ? '(payload erased)' : preview(e.payload)),
      ),
    );
    while (tailList.childElementCount > TAIL) tailList.lastElementChild?.remove();
  }

  // From the head the page first saw: eventLogged replays what was committed since, then goes live.
  let unsubscribe: () => void = () => undefined;
  let stopped = false;
  const startTail = (head: number) =>
    (unsubscribe = subscribe(
      EventLoggedDocument,
      { filter: { sourceAppIds: [sourceAppId] }, after: `${sourceAppId}/${head - 1}` },
      ({ eventLogged }) => {
        if (paused) held.push(eventLogged);
        else addTail(eventLogged);
        if (held.length > TAIL) held.shift();
      },
      (err) => {
        tailNote.textContent = `The live tail stopped: ${err.message}. Reload the page to resume it.`;
        ctx.announce(tailNote.textContent);
      },
    ));

  // Whether a policy exists and whether the log's origin has a recorded inconsistency, for its state.
  void Promise.all([loadWitnesses(), loadInconsistencies()])
    .then(() => {
      drawSummary();
      drawEvents();
    })
    .catch(() => undefined);
  void loadCheckpoints().then(() => {
    if (log && !stopped) {
      startTail(log.size);
      tailList.setAttribute('data-live', 'on');
    }
  });
  void loadEvents({});
  return () => {
    stopped = true;
    unsubscribe();
  };
};
