// Proofs from stored tree nodes: every proof reads O(log N) perfect-subtree nodes.
import { hashChildren, emptyRoot } from '../core/rfc6962/hasher.js';
import { rangeNodes } from '../core/compact/range.js';
import { consistencyNodes, inclusionNodes, rehash } from '../core/proof/nodes.js';
import { rangeProofNodes } from '../core/proof/range.js';
import type { LogStorage } from '../storage/types.js';

export class Prover {
  constructor(private readonly storage: LogStorage) {}

  /** Root of the tree of the first `size` leaves (size <= integrated size). */
  async rootAt(sourceAppId: string, size: number): Promise<Uint8Array> {
    if (size === 0) return emptyRoot();
    return foldRange(await this.storage.getTreeNodes(sourceAppId, rangeNodes(0, size)));
  }

  async inclusion(sourceAppId: string, index: number, size: number): Promise<Uint8Array[]> {
    const nodes = inclusionNodes(index, size);
    return rehash(nodes, await this.storage.getTreeNodes(sourceAppId, nodes.ids));
  }

  async consistency(sourceAppId: string, size1: number, size2: number): Promise<Uint8Array[]> {
    if (size1 === 0 || size1 === size2) return [];
    const nodes = consistencyNodes(size1, size2);
    return rehash(nodes, await this.storage.getTreeNodes(sourceAppId, nodes.ids));
  }

  async range(
    sourceAppId: string,
    start: number,
    end: number,
    size: number,
  ): Promise<{ left: Uint8Array[]; right: Uint8Array[] }> {
    const { left, right } = rangeProofNodes(start, end, size);
    const hashes = await this.storage.getTreeNodes(sourceAppId, [...left, ...right]);
    return { left: hashes.slice(0, left.length), right: hashes.slice(left.length) };
  }
}

/** The root over a compact range that starts at 0: fold its subtrees right to left. */
function foldRange(hashes: Uint8Array[]): Uint8Array {
  if (hashes.length === 0) return emptyRoot();
  let acc = hashes[hashes.length - 1]!;
  for (let i = hashes.length - 2; i >= 0; i--) acc = hashChildren(hashes[i]!, acc);
  return acc;
}
