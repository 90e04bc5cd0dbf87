// Which stored nodes a proof needs (transparency-dev/merkle proof.Inclusion/Consistency). Every id is a
// perfect subtree, so a server fetches them in O(log N) lookups; the one imperfect node on the right
// border (the ephemeral node) is rebuilt from ids[begin:end] by rehash().
import { bitLen, POW2, shiftRight, trailingZeros, xor } from '../bits.js';
import { rangeNodes } from '../compact/range.js';
import { coverage, parent, sibling } from '../compact/node.js';
import type { NodeId } from '../compact/node.js';
import { hashChildren } from '../rfc6962/hasher.js';

export interface ProofNodes {
  /** Perfect nodes to fetch, in proof order (ephemeral children lowest level first). */
  ids: NodeId[];
  /** ids[begin:end] fold into the ephemeral node; begin = end when there is none. */
  begin: number;
  end: number;
  ephem: NodeId;
}

function checkSize(name: string, x: number): void {
  if (!Number.isSafeInteger(x) || x < 0) throw new RangeError(`${name} must be a non-negative integer, got ${x}`);
}

/** Nodes proving that node (level, index) is in the tree of `size`, the node itself first. */
function pathNodes(index: number, level: number, size: number): ProofNodes {
  // The fork is where the path to (level, index) leaves the path to leaf `size`; its sibling is ephemeral.
  const inner = bitLen(xor(index, shiftRight(size, level))) - 1;
  const fork: NodeId = { level: level + inner, index: shiftRight(index, inner) };
  const { begin: forkBegin, end: forkEnd } = coverage(fork);

  // The node itself, then the siblings along its path up to the fork.
  const ids: NodeId[] = [{ level, index }];
  for (let node: NodeId = { level, index }; node.level < fork.level; node = parent(node)) ids.push(sibling(node));
  const rightNodes = rangeNodes(forkEnd, size).reverse();
  const leftNodes = rangeNodes(0, forkBegin).reverse();
  let begin = ids.length;
  ids.push(...rightNodes);
  let end = ids.length;
  ids.push(...leftNodes);
  if (begin >= end) begin = end = 0;
  return { ids, begin, end, ephem: sibling(fork) };
}

function skipFirst(p: ProofNodes): ProofNodes {
  const shift = p.begin < p.end ? 1 : 0;
  return { ids: p.ids.slice(1), begin: p.begin - shift, end: p.end - shift, ephem: p.ephem };
}

/** Nodes of the RFC 9162 inclusion proof of leaf `index` in the tree of `size`. Requires index < size. */
export function inclusionNodes(index: number, size: number): ProofNodes {
  checkSize('index', index);
  checkSize('size', size);
  if (index >= size) throw new RangeError(`index ${index} out of bounds for tree size ${size}`);
  return skipFirst(pathNodes(index, 0, size));
}

/** Nodes of the RFC 9162 consistency proof from size1 to size2. Requires 0 < size1 <= size2. */
export function consistencyNodes(size1: number, size2: number): ProofNodes {
  checkSize('size1', size1);
  checkSize('size2', size2);
  if (size1 > size2) throw new RangeError(`tree size ${size1} > ${size2}`);
  if (size1 === 0) throw new RangeError('consistency proof from the empty tree is meaningless');
  if (size1 === size2) return { ids: [], begin: 0, end: 0, ephem: { level: 0, index: 0 } };
  // Start from the largest perfect subtree ending at size1; a verifier already knows it when it is the whole old tree.
  const level = trailingZeros(size1);
  const index = shiftRight(size1 - 1, level);
  const p = pathNodes(index, level, size2);
  return size1 === POW2[level] ? skipFirst(p) : p;
}

/** Builds the proof from the hashes of nodes.ids (same order): ids[begin:end] fold into the ephemeral node. */
export function rehash(nodes: ProofNodes, hashes: readonly Uint8Array[]): Uint8Array[] {
  if (hashes.length !== nodes.ids.length) {
    throw new RangeError(`got ${hashes.length} hashes for ${nodes.ids.length} nodes`);
  }
  if (nodes.begin >= nodes.end) return [...hashes];
  let ephem = hashes[nodes.begin]!;
  for (let i = nodes.begin + 1; i < nodes.end; i++) ephem = hashChildren(hashes[i]!, ephem);
  return [...hashes.slice(0, nodes.begin), ephem, ...hashes.slice(nodes.end)];
}
