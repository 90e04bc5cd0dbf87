// Storing cosignatures on a stored checkpoint: the note gains lines, and a witness's line gives way only
// to that witness's newer cosignature (addSignatureLines). Each write is a
// compare-and-swap on the note (LogStorage.replaceCheckpointNote), and a lost one re-reads the note and
// merges again, so processes adding cosignatures to one checkpoint at once lose none of them.
import type { LogStorage } from '../storage/types.js';
import { addSignatureLines } from './cosigned-note.js';

/** Compare-and-swap attempts before giving up: each lost one means another writer added lines. */
const MAX_NOTE_UPDATES = 16;

export interface NoteChange {
  before: string;
  after: string;
}

/**
 * Adds `lines` to the note of checkpoint (sourceAppId, treeSize). `accept` sees the merged note first
 * and may refuse it (nothing is written). Returns the change written, or null when there is no such
 * checkpoint, the note already carries every line's key at that timestamp or a later one, or `accept` refused.
 */
export async function addCosignatures(
  storage: Pick<LogStorage, 'getCheckpoint' | 'replaceCheckpointNote'>,
  sourceAppId: string,
  treeSize: number,
  lines: readonly string[],
  accept: (note: string) => boolean = () => true,
): Promise<NoteChange | null> {
  for (let attempt = 0; attempt < MAX_NOTE_UPDATES; attempt++) {
    const stored = await storage.getCheckpoint(sourceAppId, treeSize);
    if (!stored) return null;
    const note = addSignatureLines(stored.note, lines);
    if (note === stored.note || !accept(note)) return null;
    if (await storage.replaceCheckpointNote(sourceAppId, treeSize, stored.note, note))
      return { before: stored.note, after: note };
  }
  throw new Error(`the note kept changing under ${MAX_NOTE_UPDATES} concurrent updates`);
}
