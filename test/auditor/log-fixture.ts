// An honest log built with the core alone, served the way the API serves it, for auditor tests.
import { generateKeyPairSync } from 'node:crypto';
import {
  CompactRange,
  completedNodes,
  consistencyNodes,
  coverage,
  createSigner,
  createVerifier,
  fromHex,
  inclusionNodes,
  leafHashHex,
  rawPublicKey,
  rehash,
  signCheckpoint,
  toHex,
  ZERO_HASH_HEX,
  type NodeId,
  type ProofNodes,
} from '../../src/core/index.js';
import type { RangePage, ServedEvent } from '../../src/auditor/range-page.js';
import { ERASURES_LOG } from '../../src/auditor/erasure-records.js';

export const APP = 'checkout';
export const ORIGIN = `test.chainlog/${APP}`;

export function signingKey(name = 'test.chainlog') {
  const { privateKey } = generateKeyPairSync('ed25519');
  return { signer: createSigner(name, privateKey), verifier: createVerifier(name, rawPublicKey(privateKey)) };
}

/** `n` chained events; `tweak` may alter an event's fields before it is hashed (e.g. a wrong prevHash). */
export function makeEvents(n: number, tweak?: (e: ServedEvent) => void): ServedEvent[] {
  const out: ServedEvent[] = [];
  let prev = ZERO_HASH_HEX;
  for (let seq = 0; seq < n; seq++) {
    const e: ServedEvent = {
      sourceAppId: APP,
      seq,
      eventType: 'order.created',
      timestamp: new Date(1_700_000_000_000 + seq * 1000).toISOString(),
      receivedAt: new Date(1_700_000_000_500 + seq * 1000).toISOString(),
      payload: { orderId: `ord_${seq}`, total: { amountMinor: 100 + seq, currency: 'EUR' }, tags: ['a', seq] },
      prevHash: prev,
      hash: '',
    };
    tweak?.(e);
    e.hash = leafHashHex({ ...e, payload: e.payload as never });
    prev = e.hash;
    out.push(e);
  }
  return out;
}

export class TestLog {
  readonly leaves: Uint8Array[];
  constructor(readonly events: ServedEvent[]) {
    this.leaves = events.map((e) => fromHex(e.hash));
  }

  private fold(begin: number, end: number): CompactRange {
    const r = CompactRange.new(begin);
    for (let i = begin; i < end; i++) r.append(this.leaves[i]!);
    return r;
  }

  root(size = this.leaves.length): Uint8Array {
    return this.fold(0, size).rootHash();
  }

  private proof(nodes: ProofNodes): string[] {
    const hashOf = (id: NodeId) => {
      const { begin, end } = coverage(id);
      return this.fold(begin, end).rootHash();
    };
    return rehash(nodes, nodes.ids.map(hashOf)).map(toHex);
  }

  /** What rangeProof(start, end, size) serves; events are deep copies so tests can alter them. */
  /** The hash of one node, folded from its leaves. */
  node(id: NodeId): string {
    const { begin, end } = coverage(id);
    return toHex(this.fold(begin, end).rootHash());
  }

  /** The page as the REST route serves it with nodes=true: with the tree nodes its events complete. */
  rangePage(start: number, end: number, size = this.leaves.length): RangePage {
    return {
      start,
      end,
      treeSize: size,
      leftHashes: this.fold(0, start).hashes.map(toHex),
      rightHashes: this.fold(end, size).hashes.map(toHex),
      nodes: completedNodes(start, end).map(({ level, first, count }) => ({
        level,
        index: first,
        hashes: Array.from({ length: count }, (_, i) => this.node({ level, index: first + i })),
      })),
      events: structuredClone(this.events.slice(start, end)),
    };
  }

  inclusion(seq: number, size = this.leaves.length): string[] {
    return this.proof(inclusionNodes(seq, size));
  }

  consistency(size1: number, size2: number): string[] {
    return this.proof(consistencyNodes(size1, size2));
  }

  note(signer: ReturnType<typeof signingKey>['signer'], size = this.leaves.length, origin = ORIGIN): string {
    return signCheckpoint({ origin, size, rootHash: this.root(size) }, signer);
  }
}

/** An erasures log (leaf version 1) whose record i lists `lists[i]`, each entry `[sourceAppId, seq, payloadHash]`. */
export function erasuresLog(lists: ReadonlyArray<Array<[string, number, string]>>): TestLog {
  let prev = ZERO_HASH_HEX;
  const events = lists.map((events, seq): ServedEvent => {
    const e: ServedEvent = {
      sourceAppId: ERASURES_LOG,
      seq,
      eventType: 'chainlog.erasure',
      timestamp: new Date(1_700_000_000_000 + seq).toISOString(),
      receivedAt: new Date(1_700_000_000_000 + seq).toISOString(),
      payload: { reason: 'test', by: 'k1', erasedAt: 1_700_000_000_000, selection: { kind: 'ids' }, events },
      prevHash: prev,
      hash: '',
    };
    e.hash = leafHashHex(e as never);
    prev = e.hash;
    return e;
  });
  return new TestLog(events);
}
