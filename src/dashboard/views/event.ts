// An event: its fields and payload as inert text; its inclusion proof drawn as the path up the Merkle
// tree to the signed root; and the verdict of the verification this browser does itself, against the
// verifier key the user pinned (for an erased payload, with the proof of its erasure record).
import { listedSeqs } from '../../auditor/erasure-records.js';
import { ApiError, prefetch, query } from '../api.js';
import { button, errorText, h, link, shortHash, svg } from '../dom.js';
import { ErasureRecordsDocument, EventDocument, InclusionProofDocument, type EventFieldsFragment } from '../generated/graphql.js';
import type { Context, View } from '../context.js';
import { loadInconsistencies, prefetchFederation } from '../federation.js';
import { session } from '../session.js';
import { checkErasure, pathSides, verifyEvent, type ErasurePage, type Proof, type Step, type Verdict } from '../verify.js';
import { stateBadge } from './common.js';

/** The screen's reads, sent ahead with the shell's (main.ts); the view takes them. */
export function prefetchEvent([sourceAppId = '', seqText = '']: string[]): void {
  prefetch(EventDocument, { id: `${sourceAppId}/${seqText}` });
  prefetch(InclusionProofDocument, { sourceAppId, seq: Number(seqText) });
  prefetchFederation();
}

export const renderEvent: View = (main, ctx, [sourceAppId = '', seqText = '']) => {
  const seq = Number(seqText);
  const verdictBox = h(
    'section',
    { 'aria-labelledby': 'verdict-title', class: 'verdict' },
    h('h2', { id: 'verdict-title' }, 'Verification in this browser'),
  );
  const treeBox = h('section', { 'aria-labelledby': 'tree-title' }, h('h2', { id: 'tree-title' }, 'Inclusion proof'));
  const keyBox = h('section', { 'aria-labelledby': 'key-title', class: 'pin' });
  const fields = h('section', { 'aria-labelledby': 'fields-title' });
  main.append(
    h('p', {}, link(['log', sourceAppId], `← Log ${sourceAppId}`)),
    h('h1', {}, `Event ${sourceAppId}/${seqText}`),
    fields,
    keyBox,
    verdictBox,
    treeBox,
  );

  let event: EventFieldsFragment | null = null;
  let proof: Proof | null = null;
  /** An erased payload's erasure records as read (null until read), or why they could not be. */
  let erasure: ErasurePage[] | string | null = null;

  const run = () => {
    if (!event || !proof) return;
    const pinned = session.pinnedKey();
    const key = pinned ?? ctx.server.verifierKey;
    const verdict = verifyEvent(event, proof, key, pinned === null);
    if (erasure !== null) {
      const recent = Date.parse(event.erasedAt ?? '') > Date.now() - 2 * ctx.server.checkpointIntervalMs - 1000;
      const step: Step =
        typeof erasure === 'string'
          ? { name: 'Erasure recorded', ok: null, detail: `the erasure records could not be read: ${erasure}` }
          : checkErasure(sourceAppId, seq, erasure, key, ctx.server.originPrefix, recent, session.keyReadsEveryLog());
      verdict.steps.push(step);
      verdict.ok &&= step.ok !== false;
    }
    drawVerdict(verdictBox, verdict);
    // Only a key that may read every log can tell what withheld records hold; its holder says so here.
    if (Array.isArray(erasure) && erasure.some((page) => page.withheld.length > 0)) verdictBox.append(readsEveryLog(run));
    drawKey(keyBox, ctx, run);
    // The event screen is complete from here (a test or a person in DevTools measures it).
    if (performance.getEntriesByName('chainlog:event-verified').length === 0) performance.mark('chainlog:event-verified');
  };
  drawKey(keyBox, ctx, run);

  // The event, its proof and the inconsistencies are independent reads: all three go out at once.
  const eventRead = query(EventDocument, { id: `${sourceAppId}/${seqText}` });
  const proofRead = query(InclusionProofDocument, { sourceAppId, seq });
  const inconsistencies = loadInconsistencies();
  proofRead.catch(() => undefined);
  inconsistencies.catch(() => undefined);
  void (async () => {
    try {
      ({ event } = await eventRead);
    } catch (err) {
      fields.append(h('p', { role: 'alert' }, errorText(err)));
      return;
    }
    if (!event) {
      fields.append(h('p', { role: 'alert' }, `No event ${sourceAppId}/${seqText} that this key may see.`));
      return;
    }
    drawFields(fields, event);
    // Red when the log's origin has a recorded inconsistency: the badge is drawn again once that is known.
    const shown = event;
    void inconsistencies.then(() => drawFields(fields, shown)).catch(() => undefined);
    try {
      ({ inclusionProof: proof } = await proofRead);
    } catch (err) {
      const why =
        err instanceof ApiError && err.code === 'FORBIDDEN'
          ? 'This key may not ask for proofs: sign in with an AUDITOR or ADMIN key to verify the event here.'
          : err instanceof ApiError && err.code === 'NOT_FOUND'
            ? 'No checkpoint covers this event yet; it is verifiable once the next checkpoint is published.'
            : errorText(err);
      verdictBox.append(h('p', { role: 'status' }, why));
      return;
    }
    drawTree(treeBox, proof);
    run();
    if (event.payloadHash && event.payload === null) {
      erasure = await erasurePages(sourceAppId, seq).catch((err: unknown) => errorText(err));
      run();
    }
  })();
  return () => undefined;
};

/**
 * The pages of erasureRecords for the log, from position 0 at the latest checkpoint of the erasures log,
 * up to the first that holds a record listing `seq` (its proof is checked by checkErasure) or the end.
 */
async function erasurePages(sourceAppId: string, seq: number): Promise<ErasurePage[]> {
  const pages: ErasurePage[] = [];
  let from: number | null = 0;
  let treeSize: number | undefined;
  while (from !== null) {
    const { erasureRecords: page }: { erasureRecords: ErasurePage } = await query(ErasureRecordsDocument, {
      sourceAppId,
      from,
      treeSize,
    });
    pages.push(page);
    if (page.checkpoint === null) break;
    treeSize = page.checkpoint.treeSize;
    if (page.records.some((r) => listedSeqs(r.event, sourceAppId).includes(seq))) break;
    from = page.next;
  }
  return pages;
}

function drawFields(box: HTMLElement, e: EventFieldsFragment): void {
  const row = (name: string, value: string | number) => [h('dt', {}, name), h('dd', {}, h('code', {}, String(value)))];
  box.replaceChildren(
    h('h2', { id: 'fields-title' }, 'Fields'),
    h('p', {}, 'Log state: ', stateBadge({ sourceAppId: e.sourceAppId })),
    h(
      'dl',
      { class: 'facts' },
      ...row('sourceAppId', e.sourceAppId),
      ...row('seq', e.seq),
      ...row('eventType', e.eventType),
      ...row('timestamp', e.timestamp),
      ...row('receivedAt', e.receivedAt),
      ...row('prevHash', e.prevHash),
      ...row('hash', e.hash),
      ...(e.payloadHash ? row('payloadHash', e.payloadHash) : []),
    ),
    h('h3', {}, 'Payload'),
    e.erasedAt
      ? h(
          'div',
          { class: 'erased warn', role: 'note' },
          h(
            'p',
            {},
            h('strong', {}, 'This event’s payload was erased'),
            ' at ',
            h('time', { datetime: e.erasedAt }, e.erasedAt),
            '.',
          ),
          h('p', {}, 'Reason: ', e.erasureReason ? h('q', {}, e.erasureReason) : 'none given'),
          h(
            'p',
            {},
            'The leaf keeps the payload’s commitment (payloadHash), so the event’s place in the log is still verified below.',
          ),
        )
      : h('pre', { class: 'payload', tabindex: 0, 'aria-label': 'Payload (JSON)' }, JSON.stringify(e.payload, null, 2)),
  );
}

function drawKey(box: HTMLElement, ctx: Context, changed: () => void): void {
  const pinned = session.pinnedKey();
  const input = h('input', { id: 'pin-key', type: 'text', spellcheck: 'false', autocomplete: 'off', value: pinned ?? '' });
  const form = h(
    'form',
    { class: 'inline' },
    h('label', { for: 'pin-key' }, 'Pinned verifier key'),
    input,
    h('button', { type: 'submit' }, 'Pin'),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    session.setPinnedKey(input.value.trim() || null);
    changed();
  });
  box.replaceChildren(
    h('h2', { id: 'key-title' }, 'Verifier key'),
    pinned
      ? h(
          'p',
          { class: 'ok' },
          'Checkpoints are checked against the key you pinned (stored in this browser): ',
          h('code', { class: 'key' }, pinned),
        )
      : h(
          'p',
          { class: 'warn' },
          '⚠ No key pinned: the check below uses the key the server itself announces, ',
          h('code', { class: 'key' }, ctx.server.verifierKey),
          ', which proves nothing against a dishonest server. Compare it with the key published out of band, then pin it.',
        ),
    form,
    pinned
      ? button('Unpin', () => (session.setPinnedKey(null), changed()))
      : button('Pin the server’s key', () => (session.setPinnedKey(ctx.server.verifierKey), changed())),
  );
}

/** The user's word that the API key reads every log (session.keyReadsEveryLog); `changed` verifies again. */
function readsEveryLog(changed: () => void): HTMLElement {
  const box = h('input', { id: 'reads-every-log', type: 'checkbox' });
  box.checked = session.keyReadsEveryLog();
  box.addEventListener('change', () => {
    session.setKeyReadsEveryLog(box.checked);
    changed();
  });
  return h(
    'p',
    { class: 'reads-every-log' },
    box,
    ' ',
    h('label', { for: 'reads-every-log' }, 'This key reads every log (an AUDITOR or ADMIN key not limited to some logs)'),
  );
}

function drawVerdict(box: HTMLElement, v: Verdict): void {
  box.className = `verdict ${v.ok ? 'ok' : 'bad'}`;
  box.replaceChildren(
    h('h2', { id: 'verdict-title' }, 'Verification in this browser'),
    h(
      'p',
      { class: 'result', 'data-verdict': v.ok ? 'verified' : 'failed' },
      v.ok ? '✓ Verified: this event is in the log the key signed' : '✗ Verification failed',
      v.keyFromServer ? ' (with the server’s own key: not pinned)' : '',
    ),
    h(
      'ol',
      {},
      ...v.steps.map((s) =>
        h(
          'li',
          { class: s.ok === null ? 'unknown' : s.ok ? 'ok' : 'bad' },
          s.ok === null ? '? ' : s.ok ? '✓ ' : '✗ ',
          h('strong', {}, s.name),
          ': ',
          s.detail,
        ),
      ),
    ),
  );
}

const NODE_W = 150;
const NODE_H = 26;
const ROW = 46;

/** The path from the leaf to the root: at each level the node on the path and the proof's sibling. */
function drawTree(box: HTMLElement, proof: Proof): void {
  const steps = pathSides(proof.leafIndex, proof.treeSize, proof.hashes);
  const levels = steps.length + 1;
  const height = levels * ROW + 10;
  const width = 3 * NODE_W + 40;
  const mid = width / 2 - NODE_W / 2;
  const y = (i: number) => height - (i + 1) * ROW;
  const drawing = svg('svg', {
    viewBox: `0 0 ${width} ${height}`,
    width,
    height,
    role: 'img',
    'aria-labelledby': 'tree-svg-title tree-svg-desc',
    class: 'tree',
  });
  drawing.append(
    svg('title', { id: 'tree-svg-title' }, `Audit path of leaf ${proof.leafIndex} in a tree of ${proof.treeSize} leaves`),
    svg(
      'desc',
      { id: 'tree-svg-desc' },
      `${steps.length} sibling hashes join the leaf's path on its way to the root ${proof.rootHash}; the list below spells out every step.`,
    ),
  );
  const node = (x: number, yy: number, label: string, cls: string) =>
    svg(
      'g',
      { class: cls },
      svg('rect', { x, y: yy, width: NODE_W, height: NODE_H, rx: 4 }),
      svg('text', { x: x + NODE_W / 2, y: yy + 17, 'text-anchor': 'middle' }, label),
    );
  for (let i = 0; i < levels; i++) {
    if (i < levels - 1)
      drawing.append(svg('line', { x1: mid + NODE_W / 2, y1: y(i), x2: mid + NODE_W / 2, y2: y(i + 1) + NODE_H, class: 'edge' }));
    const label =
      i === 0
        ? `leaf ${proof.leafIndex} ${shortHash(proof.leafHash)}`
        : i === levels - 1
          ? `root ${shortHash(proof.rootHash)}`
          : `level ${steps[i - 1]!.level + 1}`;
    drawing.append(node(mid, y(i), label, i === 0 ? 'leaf' : i === levels - 1 ? 'root' : 'path'));
    const step = steps[i];
    if (step) {
      const sx = step.side === 'left' ? mid - NODE_W - 20 : mid + NODE_W + 20;
      drawing.append(
        svg('line', {
          x1: step.side === 'left' ? sx + NODE_W : sx,
          y1: y(i) + NODE_H / 2,
          x2: mid + NODE_W / 2,
          y2: y(i + 1) + NODE_H,
          class: 'edge sibling-edge',
        }),
        node(sx, y(i), shortHash(step.sibling), 'sibling'),
      );
    }
  }
  box.replaceChildren(
    h('h2', { id: 'tree-title' }, 'Inclusion proof'),
    h('p', {}, `Tree size ${proof.treeSize}, root `, h('code', {}, proof.rootHash)),
    h('div', { class: 'tree-wrap' }, drawing),
    h(
      'details',
      {},
      h('summary', {}, 'The path as text'),
      h(
        'ol',
        {},
        h('li', {}, `Leaf ${proof.leafIndex}: `, h('code', {}, proof.leafHash)),
        ...steps.map((s) => h('li', {}, `Join the sibling on the ${s.side} (level ${s.level}): `, h('code', {}, s.sibling))),
        h('li', {}, 'Root: ', h('code', {}, proof.rootHash)),
      ),
    ),
  );
}
