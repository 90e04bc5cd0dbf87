// This server's latest view of every origin it witnesses or follows: what it serves to peers at
// GET <monitoring prefix>/<origin hash>/checkpoint (c2sp.org/tlog-witness, "Monitor Retrieval
// Mechanism"; the monitoring prefix is /witness) and what the peer comparator compares. Each part
// that holds views (the witness; a mirror) adds itself as a source.
import { createHash } from 'node:crypto';
import { CheckpointError, logVerifiers, openCheckpoint, type Checkpoint } from '../core/checkpoint.js';
import { NoteError, type NoteVerifier } from '../core/note/signed-note.js';
import type { WitnessService } from './witness-service.js';

export interface ViewSource {
  /** The origins it has views of, each with the log's verifier key. */
  origins(): Array<{ origin: string; trusted: NoteVerifier }>;
  /** Its latest signed note of the origin (cosignatures may follow the log's signature); null: none. */
  latest(origin: string): Promise<string | null>;
}

export interface View {
  origin: string;
  note: string;
  checkpoint: Checkpoint;
  trusted: NoteVerifier;
}

/** Lowercase hex SHA-256 of the origin: its path segment in the monitoring prefix. */
export const originHash = (origin: string): string => createHash('sha256').update(origin, 'utf8').digest('hex');

/** The witness's views: the latest checkpoint it cosigned of each log, with its cosignature. */
export function witnessViews(witness: WitnessService): ViewSource {
  return {
    origins: () =>
      witness.origins.flatMap((origin) =>
        witness
          .trustedKeys(origin)
          .slice(0, 1)
          .map((trusted) => ({ origin, trusted })),
      ),
    latest: async (origin) => (await witness.latestCosigned(origin))?.note ?? null,
  };
}

export class LocalViews {
  private readonly sources: ViewSource[] = [];

  add(source: ViewSource): void {
    this.sources.push(source);
  }

  /** Every origin some source has a view of (the first source's key when several name one). */
  origins(): Array<{ origin: string; trusted: NoteVerifier }> {
    const seen = new Map<string, NoteVerifier>();
    for (const s of this.sources) for (const o of s.origins()) if (!seen.has(o.origin)) seen.set(o.origin, o.trusted);
    return [...seen].map(([origin, trusted]) => ({ origin, trusted }));
  }

  originByHash(hash: string): string | undefined {
    return this.origins().find((o) => originHash(o.origin) === hash)?.origin;
  }

  /** The largest of the sources' views of the origin whose note verifies; null when none has one. */
  async latest(origin: string): Promise<View | null> {
    let best: View | null = null;
    for (const s of this.sources) {
      const known = s.origins().find((o) => o.origin === origin);
      if (!known) continue;
      const note = await s.latest(origin);
      if (note === null) continue;
      let checkpoint;
      try {
        checkpoint = openCheckpoint(note, logVerifiers(known.trusted, origin), origin);
      } catch (err) {
        if (err instanceof NoteError || err instanceof CheckpointError) continue;
        throw err;
      }
      if (!best || checkpoint.size > best.checkpoint.size) best = { origin, note, checkpoint, trusted: known.trusted };
    }
    return best;
  }
}
