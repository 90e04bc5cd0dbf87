// A node of the Merkle tree: the perfect subtree over leaves [index·2^level, (index+1)·2^level).
import { POW2 } from '../bits.js';

export interface NodeId {
  level: number;
  index: number;
}

/** The [begin, end) leaf range a node covers. */
export function coverage(id: NodeId): { begin: number; end: number } {
  const width = POW2[id.level]!;
  return { begin: id.index * width, end: (id.index + 1) * width };
}

export function parent(id: NodeId): NodeId {
  return { level: id.level + 1, index: Math.floor(id.index / 2) };
}

export function sibling(id: NodeId): NodeId {
  return { level: id.level, index: id.index % 2 === 0 ? id.index + 1 : id.index - 1 };
}
