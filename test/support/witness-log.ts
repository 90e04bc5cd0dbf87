// A log held by a test, for driving a witness: its own Ed25519 key (named by its origin, as C2SP
// tlog-checkpoint has it), a tree over fixed leaves, signed checkpoints and add-checkpoint bodies.
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { createSigner, rawPublicKey, signCheckpoint, verifierKeyString } from '../../src/core/index.js';
import { formatAddCheckpointBody } from '../../src/core/witness/index.js';
import { NaiveTree, testLeaves } from '../core/naive-tree.js';

export class TestLog {
  readonly key: KeyObject;
  readonly vkey: string;
  readonly tree: NaiveTree;

  /** `forkAt`: the tree shares the first `forkAt` leaves with the plain one, then differs. */
  constructor(
    readonly origin: string,
    opts: { key?: KeyObject; forkAt?: number; size?: number } = {},
  ) {
    this.key = opts.key ?? generateKeyPairSync('ed25519').privateKey;
    this.vkey = verifierKeyString(origin, rawPublicKey(this.key));
    const size = opts.size ?? 64;
    const forkAt = opts.forkAt ?? size;
    this.tree = new NaiveTree([...testLeaves(forkAt), ...testLeaves(size - forkAt, 1_000_000)]);
  }

  /** The same origin and key with another history from leaf `at` on: a split view. */
  fork(at: number): TestLog {
    return new TestLog(this.origin, { key: this.key, forkAt: at, size: this.tree.leaves.length });
  }

  note(size: number): string {
    return signCheckpoint({ origin: this.origin, size, rootHash: this.tree.root(size) }, createSigner(this.origin, this.key));
  }

  /** The add-checkpoint body from `old` to `size`, with the right proof unless one is given. */
  body(old: number, size: number, proof?: Uint8Array[]): string {
    return formatAddCheckpointBody({
      oldSize: old,
      proof: proof ?? (old === 0 ? [] : this.tree.consistency(old, size)),
      note: this.note(size),
    });
  }
}

export interface WitnessAnswer {
  status: number;
  contentType: string | null;
  body: string;
  retryAfter: string | null;
}

export async function addCheckpoint(witnessUrl: string, body: string | Uint8Array): Promise<WitnessAnswer> {
  const res = await fetch(`${witnessUrl}/witness/add-checkpoint`, { method: 'POST', body });
  return {
    status: res.status,
    contentType: res.headers.get('content-type'),
    body: await res.text(),
    retryAfter: res.headers.get('retry-after'),
  };
}
