// Our checkpoints and proofs, checked by independent Go implementations (golang.org/x/mod/sumdb/note,
// github.com/transparency-dev/merkle). The Go program is built once into a temp dir.
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CompactRange,
  consistencyNodes,
  createSigner,
  formatTime,
  fromHex,
  inclusionNodes,
  leafBytes,
  leafHashHex,
  rangeNodes,
  rangeProofNodes,
  rawPublicKey,
  rehash,
  signCheckpoint,
  toBase64,
  toHex,
  verifierKeyString,
  ZERO_HASH_HEX,
} from '../../src/core/index.js';
import type { NodeId } from '../../src/core/index.js';

const goAvailable = spawnSync('go', ['version'], { encoding: 'utf8' }).status === 0;
if (!goAvailable) {
  console.warn(
    '\n\n*** INTEROP TESTS SKIPPED: `go` is not on PATH; chainlog is NOT being checked against the Go implementations ***\n\n',
  );
}

const SIZE = 1000;
const ORIGIN = 'chainlog.test/interop-app';

/** A log of SIZE events hashed with our leaf encoding; every tree node is kept, as the integrator stores them. */
function buildLog() {
  const leaves: Uint8Array[] = [];
  const nodes = new Map<string, Uint8Array>();
  const tree = CompactRange.new(0);
  let prevHash = ZERO_HASH_HEX;
  for (let seq = 0; seq < SIZE; seq++) {
    const fields = {
      sourceAppId: 'interop-app',
      seq,
      prevHash,
      eventType: seq % 3 === 0 ? 'order.created' : 'order.paid',
      timestamp: formatTime(1_700_000_000_000 + seq * 1000),
      receivedAt: formatTime(1_700_000_000_500 + seq * 1000),
      payload: { orderId: `o-${seq}`, amount: seq * 1.25, tags: ['a', 'ü'], nested: { ok: seq % 2 === 0 } },
    };
    // Go gets the leaf bytes and hashes them itself, so our leafHashHex is checked too.
    leaves.push(leafBytes(fields));
    tree.append(fromHex(leafHashHex(fields)), (id, h) => nodes.set(`${id.level}/${id.index}`, h));
    prevHash = toHex(nodes.get(`0/${seq}`)!);
  }
  const node = (id: NodeId) => {
    const h = nodes.get(`${id.level}/${id.index}`);
    if (!h) throw new Error(`node ${id.level}/${id.index} not stored`);
    return h;
  };
  const root = (size: number) => CompactRange.from(0, size, rangeNodes(0, size).map(node)).rootHash();
  return { leaves, node, root };
}

function flip(h: Uint8Array): Uint8Array {
  const c = new Uint8Array(h);
  c[c.length - 1] = c[c.length - 1]! ^ 1;
  return c;
}

interface GoResult {
  ok: boolean;
  error?: string;
  size?: number;
  root?: string;
}
interface GoResponse {
  checkpoints: GoResult[];
  inclusion: GoResult[];
  consistency: GoResult[];
  ranges: GoResult[];
}

describe.skipIf(!goAvailable)('interop with Go (x/mod/sumdb/note, transparency-dev/merkle)', () => {
  let dir = '';
  let bin = '';

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'chainlog-interop-'));
    bin = join(dir, 'interop');
    const build = spawnSync('go', ['build', '-o', bin, '.'], { cwd: import.meta.dirname, encoding: 'utf8' });
    if (build.status !== 0) throw new Error(`go build failed:\n${build.stderr}`);
  });

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  function runGo(request: unknown): GoResponse {
    const run = spawnSync(bin, [], { input: JSON.stringify(request), encoding: 'utf8' });
    if (run.status !== 0) throw new Error(`interop exited ${run.status}:\n${run.stderr}`);
    return JSON.parse(run.stdout) as GoResponse;
  }

  it('Go verifies our checkpoints and proofs, and rejects tampered ones', () => {
    const log = buildLog();
    const keys = generateKeyPairSync('ed25519');
    const signer = createSigner('chainlog.test', keys.privateKey);
    const verifierKey = verifierKeyString('chainlog.test', rawPublicKey(keys.publicKey));

    // Each check carries what Go must answer.
    const checkpoints: Array<{ note: string; want: boolean; size?: number; root?: string }> = [];
    for (const size of [1, 7, 8, 513, SIZE]) {
      const root = log.root(size);
      checkpoints.push({
        note: signCheckpoint({ origin: ORIGIN, size, rootHash: root }, signer),
        want: true,
        size,
        root: toBase64(root),
      });
    }
    const good = checkpoints[4]!.note;
    checkpoints.push({ note: good.replace(`\n${SIZE}\n`, `\n${SIZE + 1}\n`), want: false });
    checkpoints.push({ note: good.replace(ORIGIN, `${ORIGIN}x`), want: false });

    const inclusion: Array<Record<string, unknown> & { want: boolean }> = [];
    const pairs: Array<[number, number]> = [
      [0, 1],
      [0, SIZE],
      [1, 2],
      [6, 7],
      [511, 512],
      [512, 513],
      [999, SIZE],
      [123, 456],
      [700, SIZE],
    ];
    for (const [index, size] of pairs) {
      const n = inclusionNodes(index, size);
      const proof = rehash(n, n.ids.map(log.node));
      const base = { leafBytes: toHex(log.leaves[index]!), index, size, proof: proof.map(toHex), root: toHex(log.root(size)) };
      inclusion.push({ ...base, want: true });
      if (proof.length > 0) inclusion.push({ ...base, proof: [toHex(flip(proof[0]!)), ...base.proof.slice(1)], want: false });
      inclusion.push({ ...base, leafBytes: toHex(log.leaves[index === 0 ? 1 : index - 1]!), want: false });
    }
    // A changed leaf byte (an edited event) must fail.
    const edited = new Uint8Array(log.leaves[42]!);
    edited[edited.length - 3] = edited[edited.length - 3]! ^ 1;
    const n42 = inclusionNodes(42, SIZE);
    inclusion.push({
      leafBytes: toHex(edited),
      index: 42,
      size: SIZE,
      proof: rehash(n42, n42.ids.map(log.node)).map(toHex),
      root: toHex(log.root(SIZE)),
      want: false,
    });

    const consistency: Array<Record<string, unknown> & { want: boolean }> = [];
    for (const [size1, size2] of [
      [1, SIZE],
      [7, 8],
      [8, 513],
      [3, 700],
      [513, SIZE],
      [SIZE, SIZE],
      [999, SIZE],
    ] as Array<[number, number]>) {
      const n = consistencyNodes(size1, size2);
      const proof = rehash(n, n.ids.map(log.node));
      const base = { size1, size2, proof: proof.map(toHex), root1: toHex(log.root(size1)), root2: toHex(log.root(size2)) };
      consistency.push({ ...base, want: true });
      if (proof.length > 0)
        consistency.push({ ...base, proof: [...base.proof.slice(0, -1), toHex(flip(proof.at(-1)!))], want: false });
    }

    const ranges: Array<Record<string, unknown> & { want: boolean }> = [];
    for (const [start, end, size] of [
      [0, SIZE, SIZE],
      [100, 400, SIZE],
      [511, 513, 700],
      [999, SIZE, SIZE],
      [3, 4, 7],
    ] as Array<[number, number, number]>) {
      const { left, right } = rangeProofNodes(start, end, size);
      const leafHashes = Array.from({ length: end - start }, (_, i) => toHex(log.node({ level: 0, index: start + i })));
      const base = {
        start,
        end,
        size,
        leafHashes,
        left: left.map(log.node).map(toHex),
        right: right.map(log.node).map(toHex),
        root: toHex(log.root(size)),
      };
      ranges.push({ ...base, want: true });
      if (leafHashes.length > 1) {
        const swapped = [...leafHashes];
        [swapped[0], swapped[1]] = [swapped[1]!, swapped[0]!];
        ranges.push({ ...base, leafHashes: swapped, want: false });
      }
    }

    const res = runGo({
      verifierKey,
      checkpoints: checkpoints.map(({ note }) => ({ note })),
      inclusion,
      consistency,
      ranges,
    });

    const report = (kind: string, wants: Array<{ want: boolean }>, got: GoResult[]) => {
      expect(got, kind).toHaveLength(wants.length);
      return wants.flatMap((w, i) =>
        got[i]!.ok === w.want ? [] : [`${kind}[${i}] want ok=${w.want}, Go said ${JSON.stringify(got[i])}`],
      );
    };
    const mismatches = [
      ...report('checkpoints', checkpoints, res.checkpoints),
      ...report('inclusion', inclusion, res.inclusion),
      ...report('consistency', consistency, res.consistency),
      ...report('ranges', ranges, res.ranges),
    ];
    expect(mismatches).toEqual([]);
    checkpoints.forEach((c, i) => {
      if (c.want)
        expect({ size: res.checkpoints[i]!.size, root: res.checkpoints[i]!.root }).toEqual({ size: c.size, root: c.root });
    });
    // Both outcomes were exercised in every category.
    for (const list of [checkpoints, inclusion, consistency, ranges]) {
      expect(list.some((c) => c.want)).toBe(true);
      expect(list.some((c) => !c.want)).toBe(true);
    }
  });

  it('Go rejects a verifier key we would also reject', () => {
    const run = spawnSync(bin, [], { input: JSON.stringify({ verifierKey: 'chainlog.test+00000000+AQ==' }), encoding: 'utf8' });
    expect(run.status).toBe(3);
  });
});
