// Integrate: fold sequenced events into the log's Merkle tree and store the new perfect-subtree nodes.
//
// Idempotent and restartable: the tree state is always re-derivable from storage (the compact
// range of [0, integratedSize) is O(log N) stored nodes), and nodes are deterministic, so a crash
// between writing nodes and raising the integrated size only repeats work.
// Leaf hashes this process sequenced are handed over in memory (`offer`), so the common case never
// reads events back. Anything else (after a restart, or written by another process) is read from
// storage and re-checked (position, link, leaf hash recomputed) before a checkpoint can cover it.
// Events this process is still writing can be in storage before they are offered (on MongoDB a batch
// is committed by its claim, before its events are derived and the append returns): integration stops
// short of them instead of reading them back, and their offer has the log published again.
import type { NodeId } from '../core/compact/node.js';
import { POW2 } from '../core/bits.js';
import { CompactRange, rangeNodes } from '../core/compact/range.js';
import { fromHex, isHex64, toHex } from '../core/hex.js';
import { HASH_SIZE } from '../core/rfc6962/hasher.js';
import { eventLeafHash, ZERO_HASH_HEX } from '../core/leaf.js';
import {
  MalformedEventError,
  type LogHead,
  type LogStorage,
  type StoredCheckpoint,
  type StoredEvent,
  type TreeNode,
} from '../storage/types.js';

/**
 * Leaves per storage call. Integration shares the engine's writer with appends: a second's worth of
 * nodes written at once would hold appends back for the whole write.
 */
const CHUNK = 5000;
/**
 * An integration given a seal (a publish's) and of at most this many leaves keeps the nodes a
 * consistency proof from its start needs (Integrated.known); a larger one keeps none: its proofs read
 * storage.
 */
const KNOWN_LEAVES = 65_536;
/** Per log, at most this many offered hashes are held; beyond that integration reads storage. */
const MAX_OFFERED = 1_000_000;
/**
 * Leaves whose nodes integrations with `hold` (a recovery's) keep, in all logs together, for the
 * integration that follows each (its publish): as many as one publish keeps for its proof.
 */
const HELD_LEAVES = KNOWN_LEAVES;

export class IntegrityError extends Error {
  override name = 'IntegrityError';
  constructor(
    readonly sourceAppId: string,
    readonly seq: number,
    message: string,
  ) {
    super(`log "${sourceAppId}" at seq ${seq}: ${message}`);
  }
}

export interface TreeState {
  size: number;
  root: Uint8Array;
}

/**
 * Given the tree as the last write of an integration will leave it, the checkpoint to store in that
 * same write (LogStorage.integrate), or null for none. Called at most once, only when the log grew.
 * `storedSize` is the integrated size the integration found stored when it began: no checkpoint of a
 * larger tree is stored (a checkpoint is stored with its tree's integration, or after it).
 */
export type Seal = (tree: TreeState, storedSize: number) => StoredCheckpoint | null;

/** What integrate() leaves: the integrated tree and what it stored with it. */
export interface Integrated extends TreeState {
  /** The checkpoint `seal` gave for the integration's last write (stored with it), or null. */
  sealed: StoredCheckpoint | null;
  /**
   * The integration stopped before the log's head at events this process is still writing
   * (`writing`): they are offered once their append settles, and integrated then.
   */
  awaitsOffer: boolean;
  /**
   * The hash of a node this integration had in hand, or undefined: the nodes of the tree's compact
   * range before it, and of the leaves and perfect nodes it added those a consistency proof from that
   * range's size to its own can use (none without a seal or `hold`, none past KNOWN_LEAVES leaves);
   * an integration with `hold` leaves them to the next one, which adds its own. That proof, and the
   * root of the range before it, need no read (on MongoDB a read of leaves is a query of `events`).
   */
  known: KnownNodes;
}

/** A node's hash if known here, else undefined (read it from storage). */
export type KnownNodes = (id: NodeId) => Uint8Array | undefined;

export class Integrator {
  /** Compact range [0, integratedSize) and the last leaf hash, per log. */
  private readonly trees = new Map<string, { range: CompactRange; lastLeaf: string }>();
  /** Leaf hashes sequenced by this process and not yet integrated, per log. */
  private readonly offered = new Map<string, OfferedLeaves>();
  /** Events read ahead (readAhead) from position `from` on, per log: integrate() takes them instead of reading them. */
  private readonly readAheads = new Map<string, { from: number; events: StoredEvent[] }>();
  /**
   * Nodes an integration with `hold` had in hand, per log, for the next integration of the log while
   * its tree still ends at `end`; `leaves` counts against heldLeaves.
   */
  private readonly held = new Map<string, { nodes: NodesInHand; end: number; leaves: number }>();
  private heldLeaves = 0;

  /**
   * @param writing whether this process has an append to the log in the engine that has not settled
   *   (Sequencer.writing): its events are offered when it settles. Without it, integration reads such
   *   events back from storage.
   */
  constructor(
    private readonly storage: LogStorage,
    private readonly writing: (sourceAppId: string) => boolean = () => false,
    /** `heldLeaves`: the budget of integrations with `hold`, in leaves across logs (HELD_LEAVES by default). */
    private readonly limits: { heldLeaves?: number } = {},
  ) {}

  /** Hand over committed events (in seq order per log) so integration needs no read-back. */
  offer(events: readonly StoredEvent[]): void {
    for (const e of events) {
      // A hash that is not one (damage) is not offered: integration reads the event and finds it.
      if (!isHex64(e.hash)) {
        this.offered.delete(e.sourceAppId);
        continue;
      }
      const o = this.offered.get(e.sourceAppId);
      if (o?.end === e.seq) {
        if (o.count < MAX_OFFERED) o.push(e.hash);
      } else {
        const fresh = new OfferedLeaves(e.seq);
        fresh.push(e.hash);
        this.offered.set(e.sourceAppId, fresh);
      }
    }
  }

  /** Offered leaf hashes that continue the tree exactly at `from` (up to `to`), 32 bytes each, or none. */
  private takeOffered(sourceAppId: string, from: number, to: number): Uint8Array {
    const o = this.offered.get(sourceAppId);
    if (!o || o.start > from || o.end <= from) return NO_LEAVES;
    const taken = o.take(from, to);
    if (o.count === 0) this.offered.delete(sourceAppId);
    return taken;
  }

  /**
   * Whether integration of the log stops at `at`, short of its head: nothing is offered from there and
   * this process is writing the log, so the events from `at` on are its own, still to be offered. (Hashes
   * offered from beyond `at` mean the events between were written elsewhere: they are read from storage.)
   */
  private awaitsOffer(sourceAppId: string, at: number): boolean {
    if (!this.writing(sourceAppId)) return false;
    const o = this.offered.get(sourceAppId);
    return !o || o.end <= at;
  }

  /**
   * Before integrating many logs behind their heads (a recovery), read what their integrations read
   * first, for all of them at once: each log's tree (its compact range and last leaf) and its first
   * chunk of events from its integrated size, for the first of `heads` whose chunks hold `maxEvents`
   * events in all (the first log's always). On an engine over the network the reads of one turn are a
   * few queries for all of those logs, not a few per log. A log whose read fails reads its own when it
   * is integrated, where its error is told. Returns how many of `heads` it read for; their events are
   * held until integrate() takes them, forget() or dropReadAhead().
   */
  async readAhead(heads: readonly LogHead[], maxEvents: number): Promise<number> {
    let count = 0;
    let events = 0;
    for (const head of heads) {
      const chunk = Math.min(Math.max(0, head.size - head.integratedSize), CHUNK);
      if (count > 0 && events + chunk > maxEvents) break;
      events += chunk;
      count++;
    }
    await Promise.all(
      heads.slice(0, count).map(async (head) => {
        const app = head.sourceAppId;
        const from = head.integratedSize;
        const [, read] = await Promise.all([
          this.load(app, from).catch(() => undefined),
          from < head.size
            ? this.storage.getEventRange(app, from, Math.min(head.size, from + CHUNK), CHUNK).catch(() => undefined)
            : undefined,
        ]);
        if (read && read.length > 0) this.readAheads.set(app, { from, events: read });
      }),
    );
    return count;
  }

  /** Drop the events read ahead that no integration took. */
  dropReadAhead(): void {
    this.readAheads.clear();
  }

  /** The events read ahead for the log from exactly `from`, taken (held no longer), or undefined. */
  private takeReadAhead(sourceAppId: string, from: number): StoredEvent[] | undefined {
    const read = this.readAheads.get(sourceAppId);
    if (!read) return undefined;
    this.readAheads.delete(sourceAppId);
    return read.from === from ? read.events : undefined;
  }

  /**
   * Integrate every sequenced event of the log, short of those this process is still writing; returns
   * the integrated tree, and the checkpoint `seal` gave for its last write (stored with it), or null
   * (nothing to integrate, no seal, or it gave none). `head`: the log's head as the caller read it
   * (one read for many logs), integrated up to; read here without it. `hold` (a recovery's, whose log
   * is published next): the nodes it had in hand are kept for the log's next integration, within
   * HELD_LEAVES leaves across logs, so the publish's proof from the tree it began with reads none.
   */
  async integrate(sourceAppId: string, seal?: Seal, head?: LogHead | null, opts: { hold?: boolean } = {}): Promise<Integrated> {
    if (head === undefined) head = await this.storage.getLogHead(sourceAppId);
    if (!head) return { size: 0, root: CompactRange.new(0).rootHash(), sealed: null, awaitsOffer: false, known: () => undefined };
    let sealed: StoredCheckpoint | null = null;
    let awaitsOffer = false;
    const tree = await this.load(sourceAppId, head.integratedSize);
    const before = this.takeHeld(sourceAppId, tree.range.end);
    const adding = head.size - tree.range.end;
    const budget = this.limits.heldLeaves ?? HELD_LEAVES;
    const hold = opts.hold === true && adding > 0 && this.heldLeaves + (before?.leaves ?? 0) + adding <= budget;
    const known = (seal || hold) && adding <= KNOWN_LEAVES ? (before?.nodes ?? new NodesInHand(tree.range)) : null;
    known?.reach(head.size);
    const started = tree.range.end;
    // Reserved while it runs: integrations of several logs at once stay within HELD_LEAVES together.
    const reserved = hold ? (before?.leaves ?? 0) + adding : 0;
    this.heldLeaves += reserved;
    try {
      while (tree.range.end < head.size) {
        const from = tree.range.end;
        if (this.awaitsOffer(sourceAppId, from)) {
          awaitsOffer = true;
          break;
        }
        const nodes: TreeNode[] = [];
        const addedIds: NodeId[] = [];
        const addedHashes: Uint8Array[] = [];
        const collect = (id: NodeId, hash: Uint8Array) => {
          if (known?.keeps(id)) {
            addedIds.push(id);
            addedHashes.push(hash);
          }
          if (id.level > 0) nodes.push({ level: id.level, index: id.index, hash });
        };
        // Work on a copy: a bad event must leave the cached tree as stored.
        const next = cloneRange(tree.range);
        let lastLeaf = tree.lastLeaf;
        const offered = this.takeOffered(sourceAppId, from, Math.min(head.size, from + CHUNK));
        if (offered.length > 0) {
          let leaf = NO_LEAVES;
          for (let at = 0; at < offered.length; at += HASH_SIZE) {
            leaf = offered.slice(at, at + HASH_SIZE);
            next.append(leaf, collect);
          }
          lastLeaf = toHex(leaf);
        } else {
          const events = this.takeReadAhead(sourceAppId, from) ?? (await this.readEvents(sourceAppId, from, head.size));
          if (events.length === 0) throw new IntegrityError(sourceAppId, from, 'event missing');
          for (const e of events) {
            checkEvent(e, next.end, lastLeaf);
            next.append(fromHex(e.hash), collect);
            lastLeaf = e.hash;
          }
        }
        // The last write carries the checkpoint, if any: one commit stores the tree and its checkpoint.
        const last = next.end === head.size || this.awaitsOffer(sourceAppId, next.end);
        if (seal && last) sealed = seal({ size: next.end, root: next.rootHash() }, head.integratedSize);
        await this.storage.integrate(sourceAppId, from, next.end, nodes, sealed ?? undefined);
        tree.range = next;
        tree.lastLeaf = lastLeaf;
        known?.add(addedIds, addedHashes);
        // Stopped short at events still being written: what is offered meanwhile waits for the next
        // integration, since the checkpoint went with this write.
        if (last) {
          awaitsOffer = next.end < head.size;
          break;
        }
      }
    } finally {
      this.heldLeaves -= reserved;
    }
    // The compact range it ended at: where it stopped short of head.size, the proof's right border.
    known?.add(tree.range.ids(), tree.range.hashes);
    if (hold && known) {
      const leaves = (before?.leaves ?? 0) + tree.range.end - started;
      this.held.set(sourceAppId, { nodes: known, end: tree.range.end, leaves });
      this.heldLeaves += leaves;
    }
    return { size: tree.range.end, root: tree.range.rootHash(), sealed, awaitsOffer, known: (id) => known?.get(id) };
  }

  /** The nodes held for the log (taken: held no longer), when its tree still ends where they do. */
  private takeHeld(sourceAppId: string, end: number): { nodes: NodesInHand; leaves: number } | undefined {
    const held = this.held.get(sourceAppId);
    if (!held) return undefined;
    this.held.delete(sourceAppId);
    this.heldLeaves -= held.leaves;
    return held.end === end ? held : undefined;
  }

  /**
   * Events from storage to integrate. A malformed stored event is damage, not a passing failure: it is
   * an IntegrityError (the log is quarantined), while anything else the engine throws stays transient.
   */
  private async readEvents(sourceAppId: string, from: number, to: number): Promise<StoredEvent[]> {
    try {
      return await this.storage.getEventRange(sourceAppId, from, to, CHUNK);
    } catch (err) {
      if (err instanceof MalformedEventError) throw new IntegrityError(sourceAppId, err.seq ?? from, err.message);
      throw err;
    }
  }

  /** Drop cached state (after an error, or when another process may have integrated). */
  forget(sourceAppId?: string): void {
    if (sourceAppId === undefined) {
      this.trees.clear();
      this.offered.clear();
      this.readAheads.clear();
      for (const held of this.held.values()) this.heldLeaves -= held.leaves;
      this.held.clear();
    } else {
      this.trees.delete(sourceAppId);
      this.offered.delete(sourceAppId);
      this.readAheads.delete(sourceAppId);
      this.takeHeld(sourceAppId, -1);
    }
  }

  private async load(sourceAppId: string, integratedSize: number) {
    const cached = this.trees.get(sourceAppId);
    if (cached && cached.range.end === integratedSize) return cached;
    const ids = rangeNodes(0, integratedSize);
    let hashes: Uint8Array[];
    let lastLeaf = ZERO_HASH_HEX;
    try {
      // The compact range's nodes and the last leaf (which the range's last node may be) in one read.
      hashes = await this.storage.getTreeNodes(
        sourceAppId,
        integratedSize === 0 ? ids : [...ids, { level: 0, index: integratedSize - 1 }],
      );
      if (integratedSize > 0) lastLeaf = toHex(hashes.pop()!);
    } catch (err) {
      if (err instanceof MalformedEventError) throw new IntegrityError(sourceAppId, err.seq ?? integratedSize - 1, err.message);
      throw err;
    }
    const range = CompactRange.from(0, integratedSize, hashes);
    const tree = { range, lastLeaf };
    this.trees.set(sourceAppId, tree);
    return tree;
  }
}

/**
 * Nodes an integration had in hand that a consistency proof from the size it began at (`from`) to the
 * size it integrates to can use, looked up by id: the compact range it began with, and of the nodes it
 * adds those on the paths of the last leaf before `from` and of the last leaf it reaches (each ancestor
 * of the leaf and its sibling). A proof from `from` to `to` takes every node from those two paths (RFC
 * 9162, 2.1.3: its subtrees border leaf from - 1 or leaf to - 1), so a few dozen nodes serve it however
 * many leaves were added; keeping every added node would hold two objects per leaf for the whole
 * publish, which outlive the young generation and fill old space under steady ingest
 * (docs/performance.md, "What a publish keeps"). They are indexed only at the first lookup.
 */
class NodesInHand {
  private readonly ids: NodeId[];
  private readonly hashes: Uint8Array[];
  private index: Map<number, Uint8Array> | null = null;
  /** The size the integration began at: the start of the consistency proof. */
  private readonly from: number;
  /** The size integration goes to (the log's head): the end of the proof. */
  private to: number;

  constructor(before: CompactRange) {
    this.ids = before.ids();
    this.hashes = [...before.hashes];
    this.from = before.end;
    this.to = before.end;
  }

  /** The size the integration in hand goes to; an integration that continues one with `hold` moves it on. */
  reach(size: number): void {
    this.to = size;
  }

  /** Whether `id` is a node the proof can use: on the path of leaf from - 1 or of leaf to - 1. */
  keeps(id: NodeId): boolean {
    return onPath(id, this.from - 1) || onPath(id, this.to - 1);
  }

  add(ids: readonly NodeId[], hashes: readonly Uint8Array[]): void {
    for (let i = 0; i < ids.length; i++) {
      this.ids.push(ids[i]!);
      this.hashes.push(hashes[i]!);
    }
    this.index = null;
  }

  get(id: NodeId): Uint8Array | undefined {
    if (!this.index) {
      this.index = new Map();
      for (let i = 0; i < this.ids.length; i++) this.index.set(nodeNumber(this.ids[i]!), this.hashes[i]!);
    }
    return this.index.get(nodeNumber(id));
  }
}

const NO_LEAVES = new Uint8Array(0);

/**
 * Leaf hashes offered for one log, seqs [start, end), as bytes in one buffer. The hashes come as the
 * committed events' hex strings: kept as they come, every one would live until the log is integrated,
 * past the young generation, and be promoted with it; as 32 bytes each in one buffer, nothing is
 * (docs/performance.md, "What a publish keeps").
 */
class OfferedLeaves {
  private bytes = new Uint8Array(64 * HASH_SIZE);
  count = 0;

  constructor(public start: number) {}

  get end(): number {
    return this.start + this.count;
  }

  /** Appends the leaf hash of seq `end` (64 lowercase hex characters). */
  push(hash: string): void {
    if ((this.count + 1) * HASH_SIZE > this.bytes.length) {
      const grown = new Uint8Array(this.bytes.length * 2);
      grown.set(this.bytes);
      this.bytes = grown;
    }
    this.bytes.set(fromHex(hash), this.count * HASH_SIZE);
    this.count++;
  }

  /** A copy of the hashes of seqs [from, min(to, end)) (from within [start, end)); those before `to` are dropped. */
  take(from: number, to: number): Uint8Array {
    const stop = Math.min(to, this.end);
    const taken = this.bytes.slice((from - this.start) * HASH_SIZE, (stop - this.start) * HASH_SIZE);
    const dropped = stop - this.start;
    this.bytes.copyWithin(0, dropped * HASH_SIZE, this.count * HASH_SIZE);
    this.start = stop;
    this.count -= dropped;
    return taken;
  }
}

/** Whether `id` is an ancestor of `leaf` (or the leaf itself) or the sibling of one; false for leaf -1. */
function onPath(id: NodeId, leaf: number): boolean {
  if (leaf < 0) return false;
  const ancestor = Math.floor(leaf / POW2[id.level]!);
  return id.index === ancestor || id.index === (ancestor % 2 === 0 ? ancestor + 1 : ancestor - 1);
}

/** One number per node, exact for node indexes below 2^47 and levels below 64 (index * 64 + level). */
const nodeNumber = (id: NodeId): number => id.index * 64 + id.level;

function cloneRange(r: CompactRange): CompactRange {
  return CompactRange.from(r.begin, r.end, [...r.hashes]);
}

function checkEvent(e: StoredEvent, expectedSeq: number, prevHash: string): void {
  if (e.seq !== expectedSeq) {
    throw new IntegrityError(e.sourceAppId, expectedSeq, e.seq > expectedSeq ? 'gap in positions' : 'duplicate position');
  }
  if (e.prevHash !== prevHash) throw new IntegrityError(e.sourceAppId, e.seq, 'prevHash does not link to the previous event');
  let hash: string;
  try {
    hash = eventLeafHash(e);
  } catch (err) {
    // Well-formed fields that still make no leaf (a lone surrogate in the payload, nesting too deep).
    throw new IntegrityError(e.sourceAppId, e.seq, `event cannot be encoded as a leaf: ${(err as Error).message}`);
  }
  if (hash !== e.hash) throw new IntegrityError(e.sourceAppId, e.seq, 'stored hash does not match the event fields');
}
