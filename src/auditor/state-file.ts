// The auditor's memory: the last checkpoint it trusted, per service URL and log.
import { randomBytes } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { z } from 'zod';

export interface TrustedCheckpoint {
  treeSize: number;
  /** Lowercase hex. */
  rootHash: string;
  note: string;
  verifiedAt: string;
}

const entrySchema = z.object({
  treeSize: z.number().int().nonnegative(),
  rootHash: z.string().regex(/^[0-9a-f]{64}$/),
  note: z.string(),
  verifiedAt: z.string(),
});
const fileSchema = z.object({ version: z.literal(1), logs: z.record(z.string(), entrySchema) });

export class StateFileError extends Error {
  override name = 'StateFileError';
}

/** One key per service and log; the URL is normalized so `http://h:1/` and `http://h:1` agree. */
export function stateKey(url: string, app: string): string {
  const u = new URL(url);
  return `${u.origin}${u.pathname.replace(/\/+$/, '')} ${app}`;
}

export class StateFile {
  private constructor(
    readonly path: string,
    private readonly logs: Record<string, TrustedCheckpoint>,
  ) {}

  /** A missing file is an empty state; an unreadable one is an error, never silently reset (that would forget a rollback). */
  static async load(path: string): Promise<StateFile> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new StateFile(path, {});
      throw new StateFileError(`cannot read state file ${path}: ${(err as Error).message}`);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      throw new StateFileError(`state file ${path} is not JSON: ${(err as Error).message}`);
    }
    const parsed = fileSchema.safeParse(json);
    if (!parsed.success)
      throw new StateFileError(`state file ${path} is not a chainlog verify state: ${parsed.error.issues[0]?.message}`);
    return new StateFile(path, parsed.data.logs);
  }

  get(url: string, app: string): TrustedCheckpoint | null {
    return this.logs[stateKey(url, app)] ?? null;
  }

  set(url: string, app: string, entry: TrustedCheckpoint): void {
    this.logs[stateKey(url, app)] = entry;
  }

  /** Write to a temp file and rename, so a crash never leaves half a state. */
  async save(): Promise<void> {
    const tmp = `${this.path}.${randomBytes(6).toString('hex')}.tmp`;
    await writeFile(tmp, `${JSON.stringify({ version: 1, logs: this.logs }, null, 2)}\n`, { mode: 0o600 });
    await rename(tmp, this.path);
  }
}
