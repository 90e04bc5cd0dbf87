// The witness (c2sp.org/tlog-witness): cosigns the checkpoints of the logs it is configured to trust,
// each only if it is consistent with the last one it cosigned for that origin. The pure decisions are
// in src/core/witness; this keeps the configuration, the per-origin rate limit and the stored state.
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { CheckpointError, parseCheckpoint, type Checkpoint } from '../core/checkpoint.js';
import { fromHex, toHex } from '../core/hex.js';
import { EVIDENCE_FORMAT, classifyCheckpoints, type Evidence } from '../core/inconsistency/evidence.js';
import { NoteError, openNote, type NoteVerifier } from '../core/note/signed-note.js';
import {
  AddCheckpointFormatError,
  createCosigner,
  decideAddCheckpoint,
  logVerifiersByOrigin,
  noteOrigin,
  parseAddCheckpointBody,
  parsePolicy,
  type Cosigner,
  type InconsistencyReason,
} from '../core/witness/index.js';
import type { InconsistencyReporter } from '../inconsistency/reporter.js';
import type { SigningKey } from '../log/signing-key.js';
import type { WitnessState, WitnessStore } from '../storage/witness-store.js';

/** What the HTTP layer sends back, as the protocol names it. */
export interface WitnessResponse {
  status: 200 | 400 | 403 | 404 | 409 | 422 | 429 | 503;
  contentType: string;
  body: string;
  /** Seconds, with 429. */
  retryAfter?: number;
}

export interface WitnessOptions {
  store: WitnessStore;
  /** Where the checkpoints refused as inconsistent are recorded, with their evidence. */
  inconsistencies: InconsistencyReporter;
  key: SigningKey;
  name: string;
  /** The tlog-policy file of the witnessed logs. */
  logsFile: string;
  /** add-checkpoint requests with a valid log signature per origin per second; 0 = unlimited. */
  ratePerSec: number;
  logger: Logger;
  /** Epoch ms: cosignature timestamps, evidence and rate-limit windows. */
  now?: () => number;
  /**
   * Asked before a checkpoint whose signature verified is cosigned: a refusal (its status and text) is
   * the answer instead. A mirror's witness asks its follower, so that it cosigns only what its own copy
   * of the log verified (src/mirror).
   */
  vouch?: (origin: string, size: number, rootHashHex: string) => Promise<{ status: 422 | 503; message: string } | null>;
}

const TEXT = 'text/plain; charset=utf-8';
/** tlog-witness: the body of a 409 is the latest size, of this content type. */
export const SIZE_CONTENT_TYPE = 'text/x.tlog.size';
/** Compare-and-swap attempts before answering 503: each lost one means another request moved the state. */
const MAX_CAS_ATTEMPTS = 8;

const text = (status: WitnessResponse['status'], body: string): WitnessResponse => ({
  status,
  contentType: TEXT,
  body: body.endsWith('\n') ? body : `${body}\n`,
});

export class WitnessConfigError extends Error {
  override name = 'WitnessConfigError';
}

/** Reads and parses the witnessed-logs file; throws WitnessConfigError naming the file and the line. */
export function loadWitnessedLogs(path: string): Map<string, NoteVerifier[]> {
  let content: string;
  try {
    content = readFileSync(path, 'utf8');
  } catch (err) {
    throw new WitnessConfigError(`WITNESSED_LOGS_FILE ${path}: ${(err as Error).message}`);
  }
  try {
    return logVerifiersByOrigin(parsePolicy(content));
  } catch (err) {
    throw new WitnessConfigError(`WITNESSED_LOGS_FILE ${path}: ${(err as Error).message}`);
  }
}

export class WitnessService {
  readonly cosigner: Cosigner;
  private logs: Map<string, NoteVerifier[]>;
  private readonly now: () => number;
  private readonly logger: Logger;
  private readonly windows = new Map<string, { endsAt: number; used: number }>();

  constructor(private readonly opts: WitnessOptions) {
    this.cosigner = createCosigner(opts.name, opts.key.privateKey);
    this.now = opts.now ?? Date.now;
    this.logger = opts.logger.child({ component: 'witness' });
    this.logs = loadWitnessedLogs(opts.logsFile);
    this.logger.info({ name: opts.name, verifierKey: this.verifierKey, logs: [...this.logs.keys()] }, 'witness ready');
  }

  /** The witness's vkey (signature type 0x04). */
  get verifierKey(): string {
    return this.cosigner.verifierKey;
  }

  /** The origins witnessed now. */
  get origins(): string[] {
    return [...this.logs.keys()];
  }

  /** The configured verifier keys of a witnessed log (empty for an origin it does not witness). */
  trustedKeys(origin: string): NoteVerifier[] {
    return this.logs.get(origin) ?? [];
  }

  /** The latest checkpoint cosigned for the origin, its note with the cosignature; null when none. */
  async latestCosigned(origin: string): Promise<WitnessState | null> {
    return this.logs.has(origin) ? await this.opts.store.latest(origin) : null;
  }

  /**
   * Re-reads the witnessed-logs file and swaps it in whole; a file that does not parse leaves the
   * current list in force and is logged as an error. Returns whether the new list is in force.
   */
  reload(): boolean {
    try {
      this.logs = loadWitnessedLogs(this.opts.logsFile);
    } catch (err) {
      this.logger.error({ err: (err as Error).message }, 'witnessed logs not reloaded; the previous list stays in force');
      return false;
    }
    for (const origin of this.windows.keys()) if (!this.logs.has(origin)) this.windows.delete(origin);
    this.logger.info({ logs: [...this.logs.keys()] }, 'witnessed logs reloaded');
    return true;
  }

  async addCheckpoint(body: string): Promise<WitnessResponse> {
    let req;
    try {
      req = parseAddCheckpointBody(body);
    } catch (err) {
      if (err instanceof AddCheckpointFormatError) return text(400, err.message);
      throw err;
    }
    const origin = noteOrigin(req.note);
    if (origin === null) return text(400, 'the checkpoint has no origin line');
    // Nothing more is done for a log this witness does not know.
    const verifiers = this.logs.get(origin);
    if (verifiers === undefined) return text(404, `unknown log origin ${JSON.stringify(origin)}`);
    let checkpointBody: string;
    try {
      checkpointBody = openNote(req.note, verifiers).text;
    } catch (err) {
      if (err instanceof NoteError) return text(err.unverified ? 403 : 400, err.message);
      throw err;
    }
    // Counted once the log's signature verified: strangers cannot spend a log's budget, and the budget
    // bounds what a log can make the witness store (states, evidence).
    const wait = this.take(origin);
    if (wait !== undefined)
      return { ...text(429, `too many add-checkpoint requests for ${origin}`), retryAfter: Math.max(1, Math.ceil(wait / 1000)) };
    let checkpoint;
    try {
      checkpoint = parseCheckpoint(checkpointBody);
    } catch (err) {
      if (err instanceof CheckpointError) return text(400, err.message);
      throw err;
    }
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const stored = await this.opts.store.latest(origin);
      const decision = decideAddCheckpoint(
        stored && { origin, size: stored.size, rootHash: fromHex(stored.rootHash), note: stored.note },
        req,
        checkpoint,
      );
      switch (decision.kind) {
        case 'bad-request':
          return text(400, decision.message);
        case 'conflict':
          return { status: 409, contentType: SIZE_CONTENT_TYPE, body: `${decision.size}\n` };
        case 'inconsistent':
          await this.keepEvidence(decision.reason, decision.message, stored, req, checkpoint, verifiers[0]!);
          return text(422, decision.message);
        case 'cosign': {
          // A mirror's witness vouches only for what its own copy verified; asked only now, so that a
          // checkpoint inconsistent with the cosigned one is refused, with its evidence, first.
          const refusal = await this.opts.vouch?.(origin, checkpoint.size, toHex(checkpoint.rootHash));
          if (refusal) return text(refusal.status, refusal.message);
          const at = this.now();
          // The checkpoint cosigned last, again: nothing to store (the state only moves forward).
          const again = stored !== null && stored.size === checkpoint.size;
          const cosignature = this.cosigner.cosign(checkpointBody, Math.floor(at / 1000));
          // Kept with its cosignature, as c2sp.org/tlog-witness's monitoring retrieval serves it.
          const next: WitnessState = {
            origin,
            size: checkpoint.size,
            rootHash: toHex(checkpoint.rootHash),
            note: req.note + cosignature,
            updatedAt: at,
          };
          if (!again && !(await this.opts.store.compareAndSwap(stored, next))) continue;
          return { status: 200, contentType: TEXT, body: cosignature };
        }
      }
    }
    return text(503, 'the state of this log kept changing under concurrent requests; retry');
  }

  private async keepEvidence(
    reason: InconsistencyReason,
    message: string,
    stored: WitnessState | null,
    req: { proof: Uint8Array[]; note: string },
    checkpoint: Checkpoint,
    trusted: NoteVerifier,
  ): Promise<void> {
    let evidence: Evidence | null = null;
    if (reason === 'empty-tree-root') {
      evidence = { format: EVIDENCE_FORMAT, origin: checkpoint.origin, kind: 'invalid-empty-tree', note: req.note };
    } else if (stored !== null && (reason === 'same-size-root' || reason === 'proof')) {
      // The cosigned note keeps the witness's cosignature: the evidence also shows what it vouched for.
      const cosigned = {
        note: stored.note,
        checkpoint: { origin: stored.origin, size: stored.size, rootHash: fromHex(stored.rootHash) },
      };
      evidence = classifyCheckpoints(cosigned, { note: req.note, checkpoint }, { proof: req.proof });
    }
    // A proof sent with old size 0, or a non-empty proof between two equal checkpoints: nothing the
    // witness cosigned is contradicted.
    if (evidence === null) {
      this.logger.warn({ origin: checkpoint.origin, reason }, `checkpoint refused: ${message}`);
      return;
    }
    await this.opts.inconsistencies.report({ evidence, detectedBy: 'witness', source: this.opts.name, trusted });
  }

  /** A fixed window of ratePerSec requests per second per origin (origins are the configured ones). */
  private take(origin: string): number | undefined {
    if (this.opts.ratePerSec <= 0) return undefined;
    const t = this.now();
    let w = this.windows.get(origin);
    if (!w || w.endsAt <= t) {
      w = { endsAt: t + 1000, used: 0 };
      this.windows.set(origin, w);
    }
    if (w.used >= this.opts.ratePerSec) return w.endsAt - t;
    w.used += 1;
    return undefined;
  }
}
