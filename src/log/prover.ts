// Proofs from stored tree nodes: every proof reads O(log N) perfect-subtree nodes.
import { hashChildren, emptyRoot } from '../core/rfc6962/hasher.js';
import { completedNodes, rangeNodes } from '../core/compact/range.js';
import { consistencyNodes, inclusionNodes, rehash } from '../core/proof/nodes.js';
import { rangeProofNodes } from '../core/proof/range.js';
import type { NodeId } from '../core/compact/node.js';
import { toHex } from '../core/hex.js';
import type { LogStorage } from '../storage/types.js';
import type { TreeNodeRun } from './service.js';
import { readNodesOrNull } from './stored-nodes.js';

/** A node's hash if the caller has it in hand, else undefined (read from storage). */
export type NodeSource = (id: NodeId) => Uint8Array | undefined;

export class Prover {
  constructor(private readonly storage: LogStorage) {}

  /** Root of the tree of the first `size` leaves (size <= integrated size); `known` as for consistency. */
  async rootAt(sourceAppId: string, size: number, known?: NodeSource): Promise<Uint8Array> {
    if (size === 0) return emptyRoot();
    return foldRange(await this.nodes(sourceAppId, rangeNodes(0, size), known));
  }

  async inclusion(sourceAppId: string, index: number, size: number): Promise<Uint8Array[]> {
    const nodes = inclusionNodes(index, size);
    return rehash(nodes, await this.storage.getTreeNodes(sourceAppId, nodes.ids));
  }

  /** `known` gives nodes the caller has in hand (an integration's: Integrated.known); the rest are read. */
  async consistency(sourceAppId: string, size1: number, size2: number, known?: NodeSource): Promise<Uint8Array[]> {
    if (size1 === 0 || size1 === size2) return [];
    const nodes = consistencyNodes(size1, size2);
    return rehash(nodes, await this.nodes(sourceAppId, nodes.ids, known));
  }

  /** The hashes of `ids`, in order: from `known` where it has them, the others in one read. */
  private async nodes(sourceAppId: string, ids: NodeId[], known?: NodeSource): Promise<Uint8Array[]> {
    if (!known) return this.storage.getTreeNodes(sourceAppId, ids);
    const hashes = ids.map((id) => known(id));
    const missing = ids.filter((_, i) => hashes[i] === undefined);
    if (missing.length === 0) return hashes as Uint8Array[];
    const read = await this.storage.getTreeNodes(sourceAppId, missing);
    let next = 0;
    return hashes.map((h) => h ?? read[next++]!);
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

  /**
   * The stored nodes that leaves [start, end) complete (core's completedNodes), end <= integrated size;
   * null where one is not stored, the others still served (an auditor names the missing ones).
   */
  async completed(sourceAppId: string, start: number, end: number): Promise<TreeNodeRun[]> {
    const runs = completedNodes(start, end);
    const ids = runs.flatMap(({ level, first, count }) => Array.from({ length: count }, (_, i) => ({ level, index: first + i })));
    const hashes = await readNodesOrNull(this.storage, sourceAppId, ids);
    let next = 0;
    return runs.map(({ level, first, count }) => ({
      level,
      index: first,
      hashes: hashes.slice(next, (next += count)).map((h) => (h === null ? null : toHex(h))),
    }));
  }
}

/** The root over a compact range that starts at 0: fold its subtrees right to left. */
function foldRange(hashes: Uint8Array[]): Uint8Array {
  if (hashes.length === 0) return emptyRoot();
  let acc = hashes[hashes.length - 1]!;
  for (let i = hashes.length - 2; i >= 0; i--) acc = hashChildren(hashes[i]!, acc);
  return acc;
}
