import { describe, expect, it } from 'vitest';
import { coverage } from '../../../src/core/compact/node.js';
import type { NodeId } from '../../../src/core/compact/node.js';
import { CompactRange, completedNodes, decompose, rangeNodes, rangeSize } from '../../../src/core/compact/range.js';
import { emptyRoot } from '../../../src/core/rfc6962/hasher.js';
import { fromHex } from '../../../src/core/hex.js';
import { hexes, NaiveTree, testLeaves } from '../naive-tree.js';
import nodeVectors from '../vectors/proof-nodes.json' with { type: 'json' };
import treeVectors from '../vectors/rfc6962-tree.json' with { type: 'json' };

const N = 300;
const leaves = testLeaves(N);
const tree = new NaiveTree(leaves);

function build(begin: number, end: number, visit?: (id: NodeId, h: Uint8Array) => void): CompactRange {
  const r = CompactRange.new(begin);
  for (let i = begin; i < end; i++) r.append(leaves[i]!, visit);
  return r;
}

/** BigInt oracle for the node ids, independent of the bit helpers. */
function bigRangeNodes(begin: number, end: number): NodeId[] {
  const ids: NodeId[] = [];
  let pos = BigInt(begin);
  const stop = BigInt(end);
  while (pos < stop) {
    // Largest aligned perfect subtree starting at pos that fits.
    let level = 0n;
    while ((pos & ((1n << (level + 1n)) - 1n)) === 0n && pos + (1n << (level + 1n)) <= stop) level++;
    ids.push({ level: Number(level), index: Number(pos >> level) });
    pos += 1n << level;
  }
  return ids;
}

describe('decompose and rangeNodes', () => {
  it('match transparency-dev/merkle TestDecomposeCases', () => {
    for (const c of nodeVectors.decompose) {
      expect(decompose(c.begin, c.end), `[${c.begin}, ${c.end})`).toEqual({ left: c.left, right: c.right });
    }
  });

  it('cover [begin, end) with the fewest aligned perfect subtrees, for all small ranges', () => {
    for (let end = 0; end <= 70; end++) {
      for (let begin = 0; begin <= end; begin++) {
        const ids = rangeNodes(begin, end);
        expect(ids).toEqual(bigRangeNodes(begin, end));
        expect(rangeSize(begin, end)).toBe(ids.length);
      }
    }
  });

  it('stay exact past 2^31 and up to 2^53', () => {
    const cases: Array<[number, number]> = [
      [2 ** 31 - 3, 2 ** 31 + 5],
      [2 ** 32 - 1, 2 ** 33 + 7],
      [3, 2 ** 40 + 12345],
      [2 ** 40 + 1, 2 ** 41 - 1],
      [0, 2 ** 53 - 1],
      [2 ** 52 + 3, 2 ** 53 - 2],
    ];
    for (const [b, e] of cases) expect(rangeNodes(b, e), `[${b}, ${e})`).toEqual(bigRangeNodes(b, e));
  });

  it('reject reversed or unsafe bounds', () => {
    expect(() => decompose(5, 4)).toThrow(RangeError);
    expect(() => rangeNodes(-1, 4)).toThrow(RangeError);
    expect(() => rangeNodes(0, 2 ** 53)).toThrow(RangeError);
  });
});

describe('CompactRange', () => {
  it('reproduces the compact trees and roots of the RFC 6962 example (transparency-dev vectors)', () => {
    const r = CompactRange.new(0);
    const check = (size: number) => {
      const want = treeVectors.compactTrees[size]!.map((id) => treeVectors.nodeHashes[id.level]![id.index]!);
      expect(hexes(r.hashes)).toEqual(want);
      expect(hexes([r.rootHash()])).toEqual([treeVectors.rootHashes[size]]);
    };
    check(0);
    treeVectors.leafInputs.forEach((input, i) => {
      r.append(fromHex(treeVectors.nodeHashes[0]![i]!));
      expect(input.length % 2).toBe(0);
      check(i + 1);
    });
  });

  it('has the RFC 9162 root for every size up to 300', () => {
    const r = CompactRange.new(0);
    expect(r.rootHash()).toEqual(emptyRoot());
    for (let size = 1; size <= N; size++) {
      r.append(leaves[size - 1]!);
      expect(r.end).toBe(size);
      expect(hexes([r.rootHash()]), `size ${size}`).toEqual(hexes([tree.root(size)]));
    }
  });

  it('holds the hashes of its node ids for every [begin, end) up to 64', () => {
    for (let begin = 0; begin <= 64; begin++) {
      const r = CompactRange.new(begin);
      for (let end = begin; end <= 64; end++) {
        if (end > begin) r.append(leaves[end - 1]!);
        expect(hexes(r.hashes), `[${begin}, ${end})`).toEqual(hexes(rangeNodes(begin, end).map((id) => tree.node(id))));
      }
    }
  });

  it('merges any two adjacent ranges into the range of their union', () => {
    for (let end = 0; end <= 40; end++) {
      for (let mid = 0; mid <= end; mid++) {
        for (let begin = 0; begin <= mid; begin++) {
          const left = build(begin, mid);
          left.appendRange(build(mid, end));
          expect(left.end).toBe(end);
          expect(hexes(left.hashes), `[${begin}, ${mid}) + [${mid}, ${end})`).toEqual(hexes(build(begin, end).hashes));
        }
      }
    }
  });

  it('visits each perfect node of the tree exactly once while appending, with its true hash', () => {
    for (const size of [1, 2, 7, 8, 9, 63, 64, 65, 200]) {
      const seen = new Map<string, string>();
      build(0, size, (id, h) => {
        const key = `${id.level}/${id.index}`;
        expect(seen.has(key), `visited ${key} twice`).toBe(false);
        seen.set(key, hexes([h])[0]!);
      });
      // Every perfect subtree inside [0, size), and nothing else.
      const want = new Map<string, string>();
      for (let level = 0; 2 ** level <= size; level++) {
        for (let index = 0; (index + 1) * 2 ** level <= size; index++) {
          want.set(`${level}/${index}`, hexes([tree.node({ level, index })])[0]!);
        }
      }
      expect(seen).toEqual(want);
    }
  });

  it('visits exactly the new perfect nodes when merging ranges', () => {
    for (const [begin, mid, end] of [
      [0, 5, 13],
      [3, 8, 29],
      [0, 32, 64],
      [6, 7, 9],
      [16, 40, 41],
    ] as const) {
      const seen = new Set<string>();
      const visit = (id: NodeId, h: Uint8Array) => {
        expect(h).toEqual(tree.node(id));
        seen.add(`${id.level}/${id.index}`);
      };
      const left = build(begin, mid, visit);
      left.appendRange(build(mid, end, visit), visit);
      // The union of all visits is every perfect node inside [begin, end).
      const want = new Set<string>();
      for (let level = 0; 2 ** level <= end - begin; level++) {
        for (let index = 0; (index + 1) * 2 ** level <= end; index++) {
          if (coverage({ level, index }).begin >= begin) want.add(`${level}/${index}`);
        }
      }
      expect(seen).toEqual(want);
    }
  });

  it('completedNodes: the nodes above the leaves that growing [0, begin) to [0, end) visits, level by level', () => {
    const runsOf = (ids: NodeId[]) => {
      const runs: Array<{ level: number; first: number; count: number }> = [];
      for (const { level, index } of [...ids].sort((a, b) => a.level - b.level || a.index - b.index)) {
        const last = runs.at(-1);
        if (last?.level === level && last.first + last.count === index) last.count++;
        else runs.push({ level, first: index, count: 1 });
      }
      return runs;
    };
    for (let begin = 0; begin <= 70; begin++) {
      for (const end of [begin, begin + 1, begin + 2, begin + 7, begin + 64, begin + 130, N]) {
        if (end > N || end < begin) continue;
        const r = CompactRange.from(
          0,
          begin,
          rangeNodes(0, begin).map((id) => tree.node(id)),
        );
        const visited: NodeId[] = [];
        for (let i = begin; i < end; i++) r.append(leaves[i]!, (id) => id.level > 0 && visited.push(id));
        expect(completedNodes(begin, end), `[${begin}, ${end})`).toEqual(runsOf(visited));
      }
    }
    // Consecutive ranges complete every perfect subtree of level >= 1 once (pages of an audit).
    const all = [0, 13, 14, 100, 256, 300].slice(1).flatMap((end, i, ends) => completedNodes(i === 0 ? 0 : ends[i - 1]!, end));
    for (let level = 1; 2 ** level <= N; level++) {
      const ofLevel = all.filter((run) => run.level === level);
      expect(
        ofLevel.reduce((n, run) => n + run.count, 0),
        `level ${level}`,
      ).toBe(Math.floor(N / 2 ** level));
    }
    expect(completedNodes(2 ** 52 - 1, 2 ** 52)).toHaveLength(52);
    expect(() => completedNodes(5, 4)).toThrow(RangeError);
  });

  it('works at indexes past 2^40 (alignment, not magnitude, decides the shape)', () => {
    // [2^40 - 3, 2^40 + 61) has the shape of [61, 125) shifted by a multiple of 2^7.
    const shift = 2 ** 40 - 64;
    const r = CompactRange.new(shift + 61);
    const ids: NodeId[] = [];
    for (let i = 61; i < 125; i++) r.append(leaves[i]!, (id) => ids.push(id));
    expect(hexes(r.hashes)).toEqual(hexes(build(61, 125).hashes));
    expect(r.ids()).toEqual(rangeNodes(61, 125).map((id) => ({ level: id.level, index: id.index + shift / 2 ** id.level })));
    for (const id of ids) expect(coverage(id).begin).toBeGreaterThanOrEqual(shift + 61);
  });

  it('from() checks the hash count; appendRange checks adjacency', () => {
    expect(() => CompactRange.from(0, 3, [leaves[0]!])).toThrow(RangeError);
    const r = CompactRange.from(0, 3, build(0, 3).hashes);
    expect(() => r.appendRange(build(4, 6))).toThrow(RangeError);
    expect(() => CompactRange.new(-1)).toThrow(RangeError);
  });

  it('appends 40k leaves quickly', () => {
    const r = CompactRange.new(0);
    const leaf = leaves[0]!;
    const t0 = performance.now();
    for (let i = 0; i < 40_000; i++) r.append(leaf);
    const ms = performance.now() - t0;
    expect(r.hashes.length).toBe(rangeSize(0, 40_000));
    expect(ms).toBeLessThan(1000); // ~80k hashes; generous for a shared 2-core box
  });
});
