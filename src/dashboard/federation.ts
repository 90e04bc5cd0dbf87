// What the tab knows about witnesses and federation inconsistencies, shared by every screen: the
// witnesses of the server's witness policy and their health, and the inconsistencies the key may read
// (none, and `forbidden`, for a READER key). A log whose origin has a recorded inconsistency is red on
// every screen (views/common.ts reads `inconsistencyOf`).
import { ApiError, prefetch, query } from './api.js';
import {
  InconsistenciesDocument,
  WitnessesDocument,
  type InconsistencyFieldsFragment,
  type WitnessHealthFieldsFragment,
} from './generated/graphql.js';

/** The newest inconsistencies kept; the panel says when there are more. */
const MAX_INCONSISTENCIES = 100;

export const federation = {
  /** Null until first read. An empty list: the server has no witness policy. */
  witnesses: null as WitnessHealthFieldsFragment[] | null,
  /** Newest first. */
  inconsistencies: [] as InconsistencyFieldsFragment[],
  /** More inconsistencies exist than the tab keeps. */
  moreInconsistencies: false,
  /** The key may not read inconsistencies (READER): FORBIDDEN, not a failure. */
  forbidden: false,
};

/** Sends the reads of `loadWitnesses` and `loadInconsistencies` ahead (api.ts `prefetch`). */
export function prefetchFederation(): void {
  prefetch(WitnessesDocument, {});
  prefetch(InconsistenciesDocument, { first: MAX_INCONSISTENCIES });
}

export async function loadWitnesses(): Promise<void> {
  federation.witnesses = (await query(WitnessesDocument, {})).witnesses;
}

/** Reads the newest inconsistencies; a FORBIDDEN answer marks the key as unable to, without throwing. */
export async function loadInconsistencies(): Promise<void> {
  try {
    const { inconsistencies } = await query(InconsistenciesDocument, { first: MAX_INCONSISTENCIES });
    federation.inconsistencies = inconsistencies.nodes;
    federation.moreInconsistencies = inconsistencies.pageInfo.hasNextPage;
    federation.forbidden = false;
  } catch (err) {
    if (err instanceof ApiError && err.code === 'FORBIDDEN') {
      federation.forbidden = true;
      federation.inconsistencies = [];
      return;
    }
    throw err;
  }
}

/** Adds one the subscription delivered (once: a record's id is its evidence's content id). */
export function addInconsistency(i: InconsistencyFieldsFragment): void {
  if (federation.inconsistencies.some((x) => x.id === i.id)) return;
  federation.inconsistencies.unshift(i);
  if (federation.inconsistencies.length > MAX_INCONSISTENCIES) {
    federation.inconsistencies.pop();
    federation.moreInconsistencies = true;
  }
}

/** The newest recorded inconsistency of the log (by origin, or by source application when only that is known). */
export function inconsistencyOf(log: { sourceAppId: string; origin?: string | null }): InconsistencyFieldsFragment | null {
  return (
    federation.inconsistencies.find((i) => (log.origin ? i.origin === log.origin : false) || i.sourceAppId === log.sourceAppId) ??
    null
  );
}

/** A witness is failing when its last submission failed after its last cosignature (or it never cosigned). */
export function isFailing(w: WitnessHealthFieldsFragment): boolean {
  if (!w.lastError || !w.lastErrorAt) return false;
  return w.lastSuccessAt === null || Date.parse(w.lastErrorAt) > Date.parse(w.lastSuccessAt);
}

/** Quorum met / not met / no policy, for a checkpoint (null: none yet). */
export function witnessStatus(checkpoint: { witnessed: boolean } | null | undefined): {
  text: string;
  cls: 'ok' | 'bad' | 'muted';
} {
  if (federation.witnesses === null) return { text: '…', cls: 'muted' };
  if (federation.witnesses.length === 0) return { text: 'no policy', cls: 'muted' };
  if (!checkpoint) return { text: 'no checkpoint', cls: 'muted' };
  return checkpoint.witnessed ? { text: '✓ quorum met', cls: 'ok' } : { text: '✗ quorum not met', cls: 'bad' };
}

/**
 * Saves the evidence as a file through a Blob and an object URL: the text never passes through markup,
 * and nothing leaves the browser. JSON evidence is saved as application/json, anything else as text.
 */
export function downloadEvidence(i: Pick<InconsistencyFieldsFragment, 'id' | 'evidence'>): void {
  let json = true;
  try {
    JSON.parse(i.evidence);
  } catch {
    json = false;
  }
  const blob = new Blob([i.evidence], { type: json ? 'application/json' : 'text/plain' });
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = `chainlog-evidence-${i.id.slice(0, 16)}.${json ? 'json' : 'txt'}`;
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
  // The download has read the URL once the click returns; freeing it later keeps slow browsers safe.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
