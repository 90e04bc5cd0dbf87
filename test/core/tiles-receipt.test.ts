// C2SP tlog-tiles paths and entry bundles, and tlog-proof receipts: formatting, strict parsing, and the
// verification of a receipt with every part tampered in turn.
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  CompactRange,
  createSigner,
  decodeEntryBundle,
  encodeEntryBundle,
  formatTileIndex,
  formatTilePath,
  formatTime,
  formatTlogProof,
  fromHex,
  inclusionNodes,
  leafBytes,
  leafBytesBound,
  leafHashHex,
  leavesCovered,
  MAX_ENTRY_BYTES,
  parseTilePath,
  parseTlogProof,
  parseVerifierKey,
  rawPublicKey,
  ReceiptError,
  rehash,
  signCheckpoint,
  TilePathError,
  toBase64,
  verifierKeyString,
  verifyReceipt,
  ZERO_HASH_HEX,
  type LeafFields,
  type NodeId,
} from '../../src/core/index.js';
import { checkReceipt } from '../../src/client/verify.js';

describe('tile paths (c2sp.org/tlog-tiles)', () => {
  it('encodes N in 3-digit elements, x-prefixed but the last', () => {
    expect(formatTileIndex(0n)).toBe('000');
    expect(formatTileIndex(67n)).toBe('067');
    expect(formatTileIndex(1000n)).toBe('x001/000');
    expect(formatTileIndex(1234067n)).toBe('x001/x234/067');
    expect(formatTilePath({ level: 0, index: 1234067n, width: 256 })).toBe('tile/0/x001/x234/067');
    expect(formatTilePath({ level: 'entries', index: 5n, width: 8 })).toBe('tile/entries/005.p/8');
  });

  it('parses exactly the canonical paths, and round-trips them', () => {
    for (const [segments, want] of [
      [['0', '000'], { level: 0, index: 0n, width: 256 }],
      [['63', 'x001', 'x234', '067'], { level: 63, index: 1234067n, width: 256 }],
      [['1', '002.p', '17'], { level: 1, index: 2n, width: 17 }],
      [['entries', 'x001', '000.p', '255'], { level: 'entries', index: 1000n, width: 255 }],
    ] as const) {
      const t = parseTilePath(segments);
      expect(t).toEqual(want);
      expect(formatTilePath(t)).toBe(`tile/${segments.join('/')}`);
    }
    for (const bad of [
      ['0'],
      ['64', '000'],
      ['01', '000'],
      ['-1', '000'],
      ['0', '67'],
      ['0', '0067'],
      ['0', 'x000', '067'],
      ['0', '001', '002'],
      ['0', 'x01', '002'],
      ['0', '000.p', '0'],
      ['0', '000.p', '256'],
      ['0', '000.p', '08'],
      ['0', '000.p'],
      ['0', '000.p', '1', '2'],
      ['data', '000'],
    ]) {
      expect(() => parseTilePath(bad), bad.join('/')).toThrow(TilePathError);
    }
  });

  it('says how many leaves a tile needs: (N·256 + W)·256**L', () => {
    expect(leavesCovered({ level: 0, index: 2n, width: 88 })).toBe(600n);
    expect(leavesCovered({ level: 1, index: 0n, width: 2 })).toBe(512n);
    expect(leavesCovered({ level: 63, index: 0n, width: 1 })).toBe(256n ** 63n);
  });
});

describe('entry bundles', () => {
  it('prefix each entry with its big-endian uint16 length, and decode back', () => {
    const entries = [new Uint8Array([1, 2, 3]), new Uint8Array(0), new Uint8Array(300).fill(7)];
    const bundle = encodeEntryBundle(entries);
    expect([...bundle.subarray(0, 5)]).toEqual([0, 3, 1, 2, 3]);
    expect([...bundle.subarray(5, 7)]).toEqual([0, 0]);
    expect([...bundle.subarray(7, 9)]).toEqual([1, 44]);
    expect(decodeEntryBundle(bundle)).toEqual(entries);
    expect(() => decodeEntryBundle(bundle.subarray(0, bundle.length - 1))).toThrow(RangeError);
    expect(() => decodeEntryBundle(new Uint8Array([0]))).toThrow(RangeError);
  });

  it('refuse an entry longer than 65,535 bytes', () => {
    expect(encodeEntryBundle([new Uint8Array(MAX_ENTRY_BYTES)])).toHaveLength(MAX_ENTRY_BYTES + 2);
    expect(() => encodeEntryBundle([new Uint8Array(MAX_ENTRY_BYTES + 1)])).toThrow(/at most 65535/);
  });

  it('bound a leaf from above, whatever its seq, and exactly for the largest seq', () => {
    const fields = { sourceAppId: 'app', eventType: 'type.x' };
    const payload = { text: 'ü'.repeat(100) };
    const payloadBytes = Buffer.byteLength(JSON.stringify(payload));
    const bound = leafBytesBound(fields, payloadBytes);
    const leafAt = (seq: number) =>
      leafBytes({
        ...fields,
        seq,
        prevHash: ZERO_HASH_HEX,
        timestamp: formatTime(1_700_000_000_000),
        receivedAt: formatTime(1_700_000_000_000),
        payload,
      }).length;
    expect(leafAt(Number.MAX_SAFE_INTEGER)).toBe(bound);
    expect(leafAt(0)).toBeLessThan(bound);
  });
});

// A log of 7 events; the receipt of seq 3 against its checkpoint.
const keys = generateKeyPairSync('ed25519');
const ORIGIN = 'chainlog.test/app';
const trusted = parseVerifierKey(verifierKeyString('chainlog.test', rawPublicKey(keys.publicKey)));
const events: Array<LeafFields & { hash: string }> = [];
const nodes = new Map<string, Uint8Array>();
const tree = CompactRange.new(0);
for (let seq = 0, prevHash = ZERO_HASH_HEX; seq < 7; seq++) {
  const fields: LeafFields = {
    sourceAppId: 'app',
    seq,
    prevHash,
    eventType: 'e',
    timestamp: formatTime(1_700_000_000_000 + seq),
    receivedAt: formatTime(1_700_000_000_500 + seq),
    payload: { seq },
  };
  const hash = leafHashHex(fields);
  events.push({ ...fields, hash });
  tree.append(fromHex(hash), (id, h) => nodes.set(`${id.level}/${id.index}`, h));
  prevHash = hash;
}
const node = (id: NodeId) => nodes.get(`${id.level}/${id.index}`)!;
const note = signCheckpoint({ origin: ORIGIN, size: 7, rootHash: tree.rootHash() }, createSigner(ORIGIN, keys.privateKey));
const proofNodes = inclusionNodes(3, 7);
const hashes = rehash(proofNodes, proofNodes.ids.map(node));
const receipt = formatTlogProof({ index: 3, hashes, checkpoint: note });

describe('receipts (c2sp.org/tlog-proof)', () => {
  it('are the header, the index, the proof lines, an empty line and the note verbatim', () => {
    expect(receipt).toBe(`c2sp.org/tlog-proof@v1\nindex 3\n${hashes.map(toBase64).join('\n')}\n\n${note}`);
    expect(parseTlogProof(receipt)).toEqual({ index: 3, hashes, checkpoint: note });
    const withExtra = formatTlogProof({ index: 3, hashes, checkpoint: note, extra: new Uint8Array([1, 2]) });
    expect(withExtra.split('\n')[1]).toBe('extra AQI=');
    expect(parseTlogProof(withExtra).extra).toEqual(new Uint8Array([1, 2]));
  });

  it('parse strictly, naming the part at fault', () => {
    const part = (text: string) => {
      try {
        parseTlogProof(text);
        return 'parsed';
      } catch (err) {
        return (err as ReceiptError).part;
      }
    };
    expect(part(receipt.replace('@v1', '@v2'))).toBe('header');
    expect(part(receipt.replace('index 3', 'index 03'))).toBe('index');
    expect(part(receipt.replace('index 3', 'idx 3'))).toBe('index');
    expect(part(receipt.replace(toBase64(hashes[0]!), toBase64(hashes[0]!).slice(4)))).toBe('proof');
    expect(part(receipt.replace('@v1\n', '@v1\nextra !!\n'))).toBe('extra');
    expect(part(receipt.slice(0, receipt.indexOf('\n\n') + 2))).toBe('checkpoint');
    expect(part(receipt.slice(0, receipt.indexOf('\n\n')))).toBe('checkpoint');
  });

  it('verify for the event, and reject each tampered part with the reason', () => {
    const e = events[3]!;
    expect(checkReceipt(receipt, e, trusted).checkpoint.size).toBe(7);
    const rejected = (text: string, event: unknown = e) => {
      try {
        checkReceipt(text, event, trusted);
        return 'accepted';
      } catch (err) {
        if (!(err instanceof ReceiptError)) throw err;
        return `${err.part}: ${err.message}`;
      }
    };
    const lines = receipt.split('\n');
    const flip = (b64: string) => {
      const h = Buffer.from(b64, 'base64');
      h[0] = h[0]! ^ 1;
      return h.toString('base64');
    };
    // The index
    expect(rejected(receipt.replace('index 3', 'index 4'))).toMatch(/^index: the receipt is for index 4, the event is at seq 3/);
    expect(rejected(receipt.replace('index 3', 'index 4'), { ...events[4] })).toMatch(/^proof: /);
    // Each proof hash
    for (let i = 0; i < hashes.length; i++) {
      const tampered = [...lines.slice(0, 2 + i), flip(lines[2 + i]!), ...lines.slice(3 + i)].join('\n');
      expect(rejected(tampered)).toMatch(/^proof: the inclusion proof does not lead/);
    }
    expect(rejected([...lines.slice(0, 2), ...lines.slice(3)].join('\n'))).toMatch(/^proof: the inclusion proof is malformed/);
    // The note: its body, its signature, another key, another log's origin
    expect(rejected(receipt.replace(`${ORIGIN}\n7\n`, `${ORIGIN}\n8\n`))).toMatch(/^checkpoint: the checkpoint does not verify/);
    const sigLine = lines.findIndex((l) => l.startsWith('— '));
    const sig = lines[sigLine]!.split(' ')[2]!;
    const badSig = lines.map((l, i) => (i === sigLine ? `— ${ORIGIN} ${flip(sig)}` : l)).join('\n');
    expect(rejected(badSig)).toMatch(/^checkpoint: /);
    const other = generateKeyPairSync('ed25519');
    const otherNote = signCheckpoint(
      { origin: ORIGIN, size: 7, rootHash: tree.rootHash() },
      createSigner(ORIGIN, other.privateKey),
    );
    expect(rejected(formatTlogProof({ index: 3, hashes, checkpoint: otherNote }))).toMatch(/^checkpoint: /);
    const otherLog = signCheckpoint(
      { origin: 'chainlog.test/other', size: 7, rootHash: tree.rootHash() },
      createSigner('chainlog.test/other', keys.privateKey),
    );
    expect(rejected(formatTlogProof({ index: 3, hashes, checkpoint: otherLog }))).toMatch(/^checkpoint: /);
    // The event: a field changed (its hash no longer matches), or changed with its hash recomputed
    expect(rejected(receipt, { ...e, payload: { seq: 4 } })).toMatch(/^event: the event's fields hash to/);
    const { hash: _hash, ...fields } = e;
    const changed = { ...fields, eventType: 'other' };
    expect(rejected(receipt, { ...changed, hash: leafHashHex(changed) })).toMatch(/^proof: the inclusion proof does not lead/);
    expect(rejected(receipt, { ...e, timestamp: 'yesterday' })).toMatch(/^event: /);
    expect(rejected(receipt, [e])).toMatch(/^event: /);
    // A receipt beyond its checkpoint
    expect(() => verifyReceipt(receipt.replace('index 3', 'index 7'), fromHex(e.hash), 7, trusted, ORIGIN)).toThrow(
      /beyond the checkpoint/,
    );
  });
});
