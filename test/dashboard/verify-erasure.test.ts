// checkErasure: the dashboard's step for an erased payload, over erasure records built with the core alone
// (the screen itself, against the real server: dashboard.test.ts).
import { describe, expect, it } from 'vitest';
import { ERASURES_LOG } from '../../src/auditor/erasure-records.js';
import { verifierKeyString } from '../../src/core/index.js';
import { checkErasure, type ErasurePage } from '../../src/dashboard/verify.js';
import { erasuresLog, signingKey } from '../auditor/log-fixture.js';

const PREFIX = 'test.chainlog';
const HASH = 'cd'.repeat(32);

/** An erasures log whose records list `shop`'s 3, then `shop`'s 5. */
function erasures() {
  const log = erasuresLog([[['shop', 3, HASH]], [['shop', 5, HASH]]]);
  const key = signingKey(PREFIX);
  const vkey = verifierKeyString(key.verifier.name, key.verifier.publicKey);
  const page = (withheld: number[] = []): ErasurePage => ({
    checkpoint: { treeSize: 2, note: log.note(key.signer, 2, `${PREFIX}/${ERASURES_LOG}`) },
    records: log.events.map((e, i) => ({ event: structuredClone(e) as never, hashes: log.inclusion(i) })),
    withheld,
    next: null,
  });
  return { page, vkey, other: signingKey(PREFIX) };
}

describe("the dashboard's erasure step", () => {
  it('names the record that lists the event, once its proof holds against the signed checkpoint', () => {
    const { page, vkey } = erasures();
    const step = checkErasure('shop', 5, [page()], vkey, PREFIX, false);
    expect(step).toMatchObject({ ok: true, detail: expect.stringMatching(/_erasures\/1, whose leaf is in .* size 2/) });
  });

  it('fails for an event no record lists, or one a record lists only once edited', () => {
    const { page, vkey } = erasures();
    expect(checkErasure('shop', 4, [page()], vkey, PREFIX, false)).toMatchObject({
      ok: false,
      detail: expect.stringMatching(/no record .* lists it: the payload was deleted outside the erasure path/),
    });
    const edited = page();
    (edited.records[0]!.event.payload as { events: unknown[] }).events.push(['shop', 4, HASH]);
    expect(checkErasure('shop', 4, [edited], vkey, PREFIX, false)).toMatchObject({
      ok: false,
      detail: expect.stringMatching(/fails/),
    });
  });

  it('neither passes nor fails while the erasure is recent or a record is withheld from the key', () => {
    const { page, vkey } = erasures();
    expect(checkErasure('shop', 4, [page()], vkey, PREFIX, true)).toMatchObject({ ok: null, detail: /reload in a moment/ });
    expect(checkErasure('shop', 4, [page([7])], vkey, PREFIX, false)).toMatchObject({ ok: null, detail: /withheld/ });
    // Unless the user says the key reads every log: then the server hides records from it.
    expect(checkErasure('shop', 4, [page([7])], vkey, PREFIX, false, true)).toMatchObject({
      ok: false,
      detail: expect.stringMatching(/withheld 1 record\(s\) from a key you say reads every log/),
    });
    // A record listing the event still proves it, whatever is withheld.
    expect(checkErasure('shop', 5, [page([7])], vkey, PREFIX, false, true)).toMatchObject({ ok: true });
    expect(checkErasure('shop', 4, [{ ...page(), checkpoint: null, records: [] }], vkey, PREFIX, true)).toMatchObject({
      ok: null,
    });
  });

  it('fails when the checkpoint is not signed by the pinned key, or is of another log', () => {
    const { page, other } = erasures();
    const otherKey = verifierKeyString(other.verifier.name, other.verifier.publicKey);
    expect(checkErasure('shop', 5, [page()], otherKey, PREFIX, false)).toMatchObject({ ok: false, detail: /not signed/ });
    const { vkey } = erasures();
    expect(checkErasure('shop', 5, [page()], vkey, 'elsewhere', false)).toMatchObject({ ok: false });
  });
});
