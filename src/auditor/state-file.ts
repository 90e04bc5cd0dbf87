// The auditor's memory: the last checkpoint it trusted of each log. A log is its origin and the verifier
// key pinned for it (not the URL it was fetched from: `localhost` and `127.0.0.1`, or a mirror serving the
// same log, share the trust). The file is authenticated at load: every stored note is verified again with
// its pinned key and must be a checkpoint of its origin with the recorded size and root, so an edited file
// is refused (StateFileError), never trusted.
import { randomBytes } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { z } from 'zod';
import {
  CheckpointError,
  emptyRoot,
  equalBytes,
  logVerifiers,
  NoteError,
  openCheckpoint,
  parseVerifierKey,
  toHex,
  verifierKeyString,
  type Checkpoint,
  type NoteVerifier,
} from '../core/index.js';

export interface TrustedCheckpoint {
  treeSize: number;
  /** Lowercase hex. */
  rootHash: string;
  /** The signed checkpoint note the audit accepted (with any cosignatures it carried). */
  note: string;
  verifiedAt: string;
}

/** What the file holds per log: the checkpoint, the key as pinned with --key, and where it was last seen. */
export interface StoredCheckpoint extends TrustedCheckpoint {
  key: string;
  url: string;
}

const STATE_VERSION = 2;

const trustedSchema = z.object({
  treeSize: z.number().int().nonnegative(),
  rootHash: z.string().regex(/^[0-9a-f]{64}$/),
  note: z.string(),
  verifiedAt: z.string(),
});
const storedSchema = trustedSchema.extend({ key: z.string(), url: z.string() });
const fileSchema = z.object({ version: z.literal(STATE_VERSION), logs: z.record(z.string(), storedSchema) });
/** The URL-keyed form (`<service URL> <app>`) written before trust was keyed by the log. */
const urlKeyedSchema = z.object({ version: z.literal(1), logs: z.record(z.string(), trustedSchema) });

export class StateFileError extends Error {
  override name = 'StateFileError';
}

/**
 * The key of a log's entry: the log's verifier key under its origin (`<origin>+<key id>+<key>`), the same
 * whichever name the pinned key has (the origin, or the server-wide name of older servers).
 */
export function logKey(origin: string, verifier: NoteVerifier): string {
  return verifierKeyString(origin, verifier.publicKey);
}

/** Opens `note` with `pinned` for `origin` and checks it says the recorded size and root; returns why not, or null. */
function authenticate(
  note: string,
  pinned: NoteVerifier,
  origin: string,
  recorded: { treeSize: number; rootHash: string } | null,
): { checkpoint: Checkpoint; problem: null } | { checkpoint: null; problem: string } {
  let checkpoint: Checkpoint;
  try {
    checkpoint = openCheckpoint(note, logVerifiers(pinned, origin), origin);
  } catch (err) {
    if (err instanceof NoteError || err instanceof CheckpointError) {
      return { checkpoint: null, problem: `its note is not a checkpoint of ${origin} signed by the pinned key: ${err.message}` };
    }
    throw err;
  }
  const root = toHex(checkpoint.rootHash);
  if (recorded && (checkpoint.size !== recorded.treeSize || root !== recorded.rootHash)) {
    return {
      checkpoint: null,
      problem: `it records size ${recorded.treeSize} and root ${recorded.rootHash}, but its signed note says size ${checkpoint.size} and root ${root}`,
    };
  }
  // A signed note cannot say otherwise unless the log signed a false empty tree; trust size 0 only as the empty tree.
  if (checkpoint.size === 0 && !equalBytes(checkpoint.rootHash, emptyRoot())) {
    return { checkpoint: null, problem: `it trusts size 0 with root ${root}, which is not the root of the empty tree` };
  }
  return { checkpoint, problem: null };
}

export interface LoadOptions {
  /**
   * The key given with --key: entries of the URL-keyed form (version 1) record no key, so they are
   * migrated only when each is a checkpoint signed by this one.
   */
  migrateWith?: NoteVerifier;
}

export class StateFile {
  private constructor(
    readonly path: string,
    private readonly logs: Record<string, StoredCheckpoint>,
    /** True when the file was of the URL-keyed form: the next save writes it keyed by log. */
    readonly migrated: boolean,
  ) {}

  /**
   * A missing file is an empty state; an unreadable, unauthenticated or unknown one is an error, never
   * silently reset (that would forget a rollback).
   */
  static async load(path: string, options: LoadOptions = {}): Promise<StateFile> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new StateFile(path, {}, false);
      throw new StateFileError(`cannot read state file ${path}: ${(err as Error).message}`);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      throw new StateFileError(`state file ${path} is not JSON: ${(err as Error).message}`);
    }
    const version = (json as { version?: unknown } | null)?.version;
    if (version === 1) return StateFile.migrate(path, json, options.migrateWith);
    const parsed = fileSchema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new StateFileError(
        `state file ${path} is not a chainlog verify state (version ${STATE_VERSION}): ${issue?.path.join('.') ?? ''} ${issue?.message}`,
      );
    }
    for (const [k, entry] of Object.entries(parsed.data.logs)) {
      const refuse = (why: string) =>
        new StateFileError(
          `state file ${path} is refused: its entry ${JSON.stringify(k)} ${why}. Nothing in it is trusted; restore the file, or move it away to start over (the next run then trusts the checkpoint it is served)`,
        );
      let logVerifier: NoteVerifier;
      let pinned: NoteVerifier;
      try {
        logVerifier = parseVerifierKey(k);
        pinned = parseVerifierKey(entry.key);
      } catch (err) {
        if (err instanceof NoteError) throw refuse(`is not keyed by a log's verifier key: ${err.message}`);
        throw err;
      }
      if (!equalBytes(logVerifier.publicKey, pinned.publicKey)) throw refuse(`pins ${entry.key}, another key than its own`);
      const { problem } = authenticate(entry.note, pinned, logVerifier.name, entry);
      if (problem !== null) throw refuse(problem);
    }
    return new StateFile(path, parsed.data.logs, false);
  }

  /** The URL-keyed form: each entry must be a checkpoint signed by `key`; entries of one log must agree. */
  private static migrate(path: string, json: unknown, key: NoteVerifier | undefined): StateFile {
    const what = `state file ${path} is of the URL-keyed form (version 1)`;
    const parsed = urlKeyedSchema.safeParse(json);
    if (!parsed.success) throw new StateFileError(`${what} and malformed: ${parsed.error.issues[0]?.message}`);
    if (!key) throw new StateFileError(`${what}: it can be migrated only with the verifier key its checkpoints are signed by`);
    const logs: Record<string, StoredCheckpoint> = {};
    const from = new Map<string, string>();
    for (const [k, entry] of Object.entries(parsed.data.logs)) {
      const claimed = entry.note.slice(0, Math.max(0, entry.note.indexOf('\n')));
      const { checkpoint, problem } = authenticate(entry.note, key, claimed || '?', entry);
      if (checkpoint === null) {
        throw new StateFileError(
          `${what}, and its entry ${JSON.stringify(k)} cannot be authenticated with --key ${verifierKeyString(key.name, key.publicKey)}: ${problem}. ` +
            'Such a file is migrated (keyed by log, with the key recorded) only when every entry is a checkpoint signed by the key given with --key: ' +
            'run verify with the key of that entry, or move the file away to start over (the next run then trusts the checkpoint it is served)',
        );
      }
      const id = logKey(checkpoint.origin, key);
      const before = logs[id];
      if (before && (before.treeSize !== entry.treeSize || before.rootHash !== entry.rootHash)) {
        throw new StateFileError(
          `${what}, and two of its entries, ${JSON.stringify(from.get(id))} and ${JSON.stringify(k)}, trust different checkpoints of the one log ${checkpoint.origin} (sizes ${before.treeSize} and ${entry.treeSize}): ` +
            'trust is now kept per log, not per URL; remove the entry you do not trust and run again',
        );
      }
      // The key was `<service URL> <app>`.
      logs[id] = { ...entry, key: verifierKeyString(key.name, key.publicKey), url: k.slice(0, Math.max(0, k.lastIndexOf(' '))) };
      from.set(id, k);
    }
    return new StateFile(path, logs, true);
  }

  get(origin: string, verifier: NoteVerifier): StoredCheckpoint | null {
    return this.logs[logKey(origin, verifier)] ?? null;
  }

  set(origin: string, verifier: NoteVerifier, entry: TrustedCheckpoint & { url: string }): void {
    this.logs[logKey(origin, verifier)] = { ...entry, key: verifierKeyString(verifier.name, verifier.publicKey) };
  }

  /** Write to a temp file and rename, so a crash never leaves half a state. */
  async save(): Promise<void> {
    const tmp = `${this.path}.${randomBytes(6).toString('hex')}.tmp`;
    await writeFile(tmp, `${JSON.stringify({ version: STATE_VERSION, logs: this.logs }, null, 2)}\n`, { mode: 0o600 });
    await rename(tmp, this.path);
  }
}
