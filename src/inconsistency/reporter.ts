// The one way any part of a server reports an inconsistency it detected (the witness refusing a fork,
// a mirror whose copy no longer matches, the peer comparator): it checks that the evidence says no
// more than it proves, records it once by content id (never repaired), counts it in
// chainlog_inconsistencies_total, logs it at error level and tells the live subscribers. A record
// another process sharing the database made is not announced here (each process announces its own).
import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import { evidenceId, evidenceText, verifyEvidence, type Evidence } from '../core/inconsistency/evidence.js';
import type { NoteVerifier } from '../core/note/signed-note.js';
import type { Detector, InconsistencyRecord, InconsistencyStore } from '../storage/inconsistency-store.js';

export interface InconsistencyReport {
  evidence: Evidence;
  detectedBy: Detector;
  /** Who saw it: the witness's name, the followed server's URL, the peer's URL. */
  source: string;
  /** The log's verifier key (under any name): the evidence's proven kinds must verify under it. */
  trusted: NoteVerifier;
}

export interface InconsistencyReporterOptions {
  store: InconsistencyStore;
  logger: Logger;
  registry?: Registry;
  /** The source application of an origin, when it is one of this server's logs; null otherwise. */
  sourceAppIdOf?: (origin: string) => string | null;
  now?: () => number;
}

/** The evidence claims a fork it does not prove: a bug in the reporting code, never recorded. */
export class OverclaimedEvidenceError extends Error {
  override name = 'OverclaimedEvidenceError';
}

export type InconsistencyListener = (record: InconsistencyRecord) => void;

export class InconsistencyReporter {
  private readonly listeners = new Set<InconsistencyListener>();
  private readonly counter: Counter<'kind' | 'detected_by' | 'proven'>;
  private readonly logger: Logger;
  private readonly now: () => number;

  constructor(private readonly opts: InconsistencyReporterOptions) {
    this.logger = opts.logger.child({ component: 'inconsistencies' });
    this.now = opts.now ?? Date.now;
    this.counter = new Counter({
      name: 'chainlog_inconsistencies_total',
      help: 'Inconsistencies this process detected and recorded (each evidence once), by kind, detector and whether the evidence proves a fork.',
      labelNames: ['kind', 'detected_by', 'proven'],
      registers: opts.registry ? [opts.registry] : [],
    });
  }

  get store(): InconsistencyStore {
    return this.opts.store;
  }

  /**
   * Records the inconsistency unless its evidence is recorded already. Returns the record, and
   * whether this call added it. Throws OverclaimedEvidenceError when a proven kind does not verify.
   */
  async report(r: InconsistencyReport): Promise<{ record: InconsistencyRecord; added: boolean }> {
    const verdict = verifyEvidence(r.evidence, r.trusted);
    if (r.evidence.kind !== 'unproven' && !verdict.proves)
      throw new OverclaimedEvidenceError(`evidence of kind ${r.evidence.kind} does not prove it: ${verdict.reason}`);
    const record: InconsistencyRecord = {
      id: evidenceId(r.evidence),
      kind: r.evidence.kind,
      proven: verdict.proves,
      origin: r.evidence.origin,
      sourceAppId: this.opts.sourceAppIdOf?.(r.evidence.origin) ?? null,
      detectedBy: r.detectedBy,
      source: r.source,
      detectedAt: this.now(),
      evidence: evidenceText(r.evidence),
    };
    const added = await this.opts.store.record(record);
    if (!added) return { record, added };
    this.counter.inc({ kind: record.kind, detected_by: record.detectedBy, proven: String(record.proven) });
    this.logger.error(
      {
        id: record.id,
        kind: record.kind,
        proven: record.proven,
        origin: record.origin,
        detectedBy: record.detectedBy,
        source: record.source,
      },
      verdict.proves
        ? `inconsistency detected and proven: ${verdict.statement}`
        : `inconsistency observed, not proven: ${verdict.reason}`,
    );
    for (const listener of this.listeners) {
      try {
        listener(record);
      } catch (err) {
        this.logger.warn({ err }, 'an inconsistency listener failed');
      }
    }
    return { record, added };
  }

  /** Calls `listener` with each record this process adds from now on; returns the unsubscribe. */
  onRecorded(listener: InconsistencyListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

/** The source application of an origin `<prefix>/<app>` of this server's logs, else null. */
export function sourceAppIdOfOrigin(originPrefix: string): (origin: string) => string | null {
  const head = `${originPrefix}/`;
  return (origin) => (origin.startsWith(head) && origin.length > head.length ? origin.slice(head.length) : null);
}
