// Evidence that a log signed checkpoints which cannot all be true, in a versioned JSON form that
// anyone verifies offline with the log's verifier key (verifyEvidence). The proven kinds are proofs
// of a fork given SHA-256's collision resistance and the log key's signatures:
//
//   same-size-different-roots  two signed checkpoints of one origin, one size, different roots.
//   inconsistent-prefix        sizes m < n and a consistency proof that reconstructs the larger
//                              checkpoint's root while implying a prefix of size m whose root is not
//                              the smaller checkpoint's root.
//   conflicting-leaves         two different leaf hashes at one index, each with an inclusion proof
//                              that verifies under a signed checkpoint of the origin.
//   invalid-empty-tree         a signed checkpoint of size 0 whose root is not the empty tree's.
//
// A proof that merely fails to verify proves nothing (the sender may have sent garbage): such a case
// is the distinct kind `unproven`, an observation kept with its notes, never claimed as a fork.
import { hexEncode, sha256, utf8Encode } from '../crypto/primitives.js';
import { fromBase64Strict, toBase64 } from '../base64.js';
import { POW2, bitLen, onesCount, shiftRight, trailingZeros, xor } from '../bits.js';
import { equalBytes } from '../bytes.js';
import { canonicalJson } from '../canonical-json.js';
import { CheckpointError, logVerifiers, openCheckpoint, type Checkpoint } from '../checkpoint.js';
import { NoteError, type NoteVerifier } from '../note/signed-note.js';
import { ProofError, rootFromInclusionProof, verifyConsistency } from '../proof/verify.js';
import { HASH_SIZE, emptyRoot, hashChildren } from '../rfc6962/hasher.js';

export const EVIDENCE_FORMAT = 'chainlog-inconsistency-evidence/v1';

export const PROVEN_KINDS = [
  'same-size-different-roots',
  'inconsistent-prefix',
  'conflicting-leaves',
  'invalid-empty-tree',
] as const;
export type ProvenKind = (typeof PROVEN_KINDS)[number];
export type InconsistencyKind = ProvenKind | 'unproven';
export const INCONSISTENCY_KINDS: readonly InconsistencyKind[] = [...PROVEN_KINDS, 'unproven'];

/**
 * What an `unproven` record saw: a consistency proof that does not verify, none to be had, a source
 * whose latest checkpoint is older than one it served before, an inclusion proof that does not verify,
 * or what a mirror found in the events its primary serves.
 */
export const OBSERVATIONS = [
  'consistency-proof-fails',
  'consistency-proof-unavailable',
  'history-backwards',
  'inclusion-proof-fails',
  /** A mirror's primary serves a version 2 event without its payload that its erasures log does not list. */
  'unrecorded-erasure',
  /** A mirror's primary signs a checkpoint whose root is not the root of the events it serves for it. */
  'root-mismatch',
  /** A mirror's primary serves an event whose link (prevHash) or leaf hash does not follow from its fields. */
  'bad-event',
  /** A mirror's primary serves an event the mirror copied under an accepted checkpoint, changed, with no proof of both. */
  'event-changed',
] as const;
export type Observation = (typeof OBSERVATIONS)[number];

/** A leaf's hash and its inclusion proof under a signed note (hashes in base64). */
export interface LeafWitness {
  note: string;
  leafHash: string;
  proof: string[];
}

interface Base {
  format: typeof EVIDENCE_FORMAT;
  origin: string;
}
export type Evidence =
  | (Base & { kind: 'same-size-different-roots'; notes: [string, string] })
  | (Base & {
      kind: 'inconsistent-prefix';
      smaller: string;
      larger: string;
      /** The RFC 9162 consistency proof from the smaller size to the larger, base64 hashes. */
      proof: string[];
      /**
       * The root of the larger tree's first `smaller size` leaves, base64: present exactly when the
       * smaller size is a power of two, where RFC 9162's proof leaves that subtree out (its verifier
       * takes the old root as the seed).
       */
      prefixRoot?: string;
    })
  | (Base & { kind: 'conflicting-leaves'; index: number; a: LeafWitness; b: LeafWitness })
  | (Base & { kind: 'invalid-empty-tree'; note: string })
  | (Base & {
      kind: 'unproven';
      observation: Observation;
      /** The signed notes involved, one or two. */
      notes: string[];
      /** A proof as received (base64 hashes), when there was one. */
      proof?: string[];
      detail: string;
    });

export type Verdict =
  | { proves: true; kind: ProvenKind; origin: string; statement: string }
  | { proves: false; kind: InconsistencyKind; origin: string; reason: string };

/** The evidence is not a readable evidence document (not JSON, another format, a missing field). */
export class EvidenceFormatError extends Error {
  override name = 'EvidenceFormatError';
}

/** The text of an evidence document: RFC 8785 canonical JSON, so each evidence has one text. */
export function evidenceText(e: Evidence): string {
  return canonicalJson(e);
}

/** Lowercase hex SHA-256 of evidenceText: recording the same evidence twice keeps one record. */
export function evidenceId(e: Evidence): string {
  return hexEncode(sha256(utf8Encode(evidenceText(e))));
}

// ---- parsing ------------------------------------------------------------------------------------

type Obj = Record<string, unknown>;

function field(o: Obj, key: string, label = key): unknown {
  if (!(key in o)) throw new EvidenceFormatError(`${label}: is required`);
  return o[key];
}
function str(o: Obj, key: string, label = key): string {
  const v = field(o, key, label);
  if (typeof v !== 'string' || v === '') throw new EvidenceFormatError(`${label}: must be a non-empty string`);
  return v;
}
function hashList(o: Obj, key: string, label = key): string[] {
  const v = field(o, key, label);
  if (!Array.isArray(v) || v.length > 64) throw new EvidenceFormatError(`${label}: must be a list of at most 64 hashes`);
  return v.map((h, i) => {
    if (typeof h !== 'string' || fromBase64Strict(h)?.length !== HASH_SIZE)
      throw new EvidenceFormatError(`${label}[${i}]: must be a base64 ${HASH_SIZE}-byte hash`);
    return h;
  });
}
function hash(o: Obj, key: string, label = key): string {
  const v = str(o, key, label);
  if (fromBase64Strict(v)?.length !== HASH_SIZE)
    throw new EvidenceFormatError(`${label}: must be a base64 ${HASH_SIZE}-byte hash`);
  return v;
}
function object(v: unknown, name: string): Obj {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new EvidenceFormatError(`${name}: must be an object`);
  return v as Obj;
}
function oneOf<T extends string>(o: Obj, name: string, values: readonly T[]): T {
  const v = str(o, name);
  if (!values.includes(v as T)) throw new EvidenceFormatError(`${name}: must be one of ${values.join(', ')}`);
  return v as T;
}
function leafWitness(v: unknown, name: string): LeafWitness {
  const o = object(v, name);
  return {
    note: str(o, 'note', `${name}.note`),
    leafHash: hash(o, 'leafHash', `${name}.leafHash`),
    proof: hashList(o, 'proof', `${name}.proof`),
  };
}

/** Parses an evidence document (text or parsed JSON); throws EvidenceFormatError naming the field. */
export function parseEvidence(input: unknown): Evidence {
  let value: unknown = input;
  if (typeof input === 'string') {
    try {
      value = JSON.parse(input);
    } catch {
      throw new EvidenceFormatError('the evidence is not JSON');
    }
  }
  const o = object(value, 'evidence');
  if (o.format !== EVIDENCE_FORMAT) throw new EvidenceFormatError(`format: must be ${JSON.stringify(EVIDENCE_FORMAT)}`);
  const base = { format: EVIDENCE_FORMAT, origin: str(o, 'origin') } as const;
  const kind = oneOf(o, 'kind', INCONSISTENCY_KINDS);
  switch (kind) {
    case 'same-size-different-roots': {
      const notes = field(o, 'notes');
      if (!Array.isArray(notes) || notes.length !== 2 || !notes.every((n) => typeof n === 'string'))
        throw new EvidenceFormatError('notes: must be two signed notes');
      return { ...base, kind, notes: notes as [string, string] };
    }
    case 'inconsistent-prefix':
      return {
        ...base,
        kind,
        smaller: str(o, 'smaller'),
        larger: str(o, 'larger'),
        proof: hashList(o, 'proof'),
        ...('prefixRoot' in o && { prefixRoot: hash(o, 'prefixRoot') }),
      };
    case 'conflicting-leaves': {
      const index = field(o, 'index');
      if (typeof index !== 'number' || !Number.isSafeInteger(index) || index < 0)
        throw new EvidenceFormatError('index: must be a non-negative integer');
      return { ...base, kind, index, a: leafWitness(o.a, 'a'), b: leafWitness(o.b, 'b') };
    }
    case 'invalid-empty-tree':
      return { ...base, kind, note: str(o, 'note') };
    case 'unproven': {
      const notes = field(o, 'notes');
      if (!Array.isArray(notes) || notes.length < 1 || notes.length > 2 || !notes.every((n) => typeof n === 'string'))
        throw new EvidenceFormatError('notes: must be one or two signed notes');
      return {
        ...base,
        kind,
        observation: oneOf(o, 'observation', OBSERVATIONS),
        notes,
        ...('proof' in o && { proof: hashList(o, 'proof') }),
        detail: typeof o.detail === 'string' ? o.detail : '',
      };
    }
  }
}

// ---- verification -------------------------------------------------------------------------------

const b64 = (s: string) => fromBase64Strict(s)!;

/**
 * The roots a consistency proof from size1 to size2 implies: the prefix of size1 and the tree of
 * size2, with no expected old root to check against. RFC 9162's proof omits the prefix's subtree
 * when size1 is a power of two; `prefixRoot` gives it then (and is refused otherwise). Throws
 * ProofError when the proof's shape does not fit the sizes.
 */
export function rootsFromConsistencyProof(
  size1: number,
  size2: number,
  proof: readonly Uint8Array[],
  prefixRoot?: Uint8Array,
): { prefix: Uint8Array; root: Uint8Array } {
  if (!Number.isSafeInteger(size1) || !Number.isSafeInteger(size2) || size1 <= 0 || size2 <= size1)
    throw new ProofError(`sizes must satisfy 0 < size1 < size2, got ${size1} and ${size2}`);
  const inner0 = bitLen(xor(size1 - 1, size2 - 1));
  const border = onesCount(shiftRight(size1 - 1, inner0));
  const shift = trailingZeros(size1);
  const inner = inner0 - shift;
  const seedGiven = size1 !== POW2[shift];
  if (seedGiven === (prefixRoot !== undefined))
    throw new ProofError(
      seedGiven ? 'a prefix root is given only for a power-of-two size' : 'a power-of-two size needs the prefix root',
    );
  const want = (seedGiven ? 1 : 0) + inner + border;
  if (proof.length !== want) throw new ProofError(`wrong proof size ${proof.length}, want ${want}`);
  const seed = seedGiven ? proof[0]! : prefixRoot!;
  const path = seedGiven ? proof.slice(1) : proof;
  const mask = shiftRight(size1 - 1, shift);
  let prefix = seed;
  let root = seed;
  for (let i = 0; i < inner; i++) {
    if (shiftRight(mask, i) % 2 === 1) {
      prefix = hashChildren(path[i]!, prefix);
      root = hashChildren(path[i]!, root);
    } else {
      root = hashChildren(root, path[i]!);
    }
  }
  for (const h of path.slice(inner)) {
    prefix = hashChildren(h, prefix);
    root = hashChildren(h, root);
  }
  return { prefix: seedGiven ? prefix : seed, root };
}

class NotProven extends Error {}

function open(note: string, trusted: NoteVerifier, origin: string, what: string): Checkpoint {
  try {
    return openCheckpoint(note, logVerifiers(trusted, origin), origin);
  } catch (err) {
    if (err instanceof NoteError || err instanceof CheckpointError)
      throw new NotProven(`${what} is not a checkpoint of ${origin} signed by the given key: ${err.message}`);
    throw err;
  }
}

const isPow2 = (n: number) => n > 0 && POW2[trailingZeros(n)] === n;

/**
 * Whether the evidence proves that the log behind `trusted` (its verifier key, under any name) signed
 * checkpoints that cannot all be true. Throws EvidenceFormatError when the input is not a readable
 * evidence document; every other flaw is a verdict that proves nothing, with its reason.
 */
export function verifyEvidence(input: unknown, trusted: NoteVerifier): Verdict {
  const e = parseEvidence(input);
  try {
    return { proves: true, kind: e.kind as ProvenKind, origin: e.origin, statement: prove(e, trusted) };
  } catch (err) {
    if (err instanceof NotProven) return { proves: false, kind: e.kind, origin: e.origin, reason: err.message };
    throw err;
  }
}

function prove(e: Evidence, trusted: NoteVerifier): string {
  switch (e.kind) {
    case 'same-size-different-roots': {
      const a = open(e.notes[0], trusted, e.origin, 'notes[0]');
      const b = open(e.notes[1], trusted, e.origin, 'notes[1]');
      if (a.size !== b.size) throw new NotProven(`the notes have different sizes (${a.size}, ${b.size})`);
      if (equalBytes(a.rootHash, b.rootHash)) throw new NotProven('the notes have the same root hash');
      return `${e.origin} signed two checkpoints of size ${a.size} with different root hashes (${toBase64(a.rootHash)}, ${toBase64(b.rootHash)})`;
    }
    case 'inconsistent-prefix': {
      const small = open(e.smaller, trusted, e.origin, 'smaller');
      const large = open(e.larger, trusted, e.origin, 'larger');
      if (!(small.size > 0 && small.size < large.size))
        throw new NotProven(`the sizes must satisfy 0 < smaller < larger, got ${small.size} and ${large.size}`);
      if (isPow2(small.size) !== (e.prefixRoot !== undefined))
        throw new NotProven(
          isPow2(small.size)
            ? `smaller size ${small.size} is a power of two: the evidence needs prefixRoot`
            : 'prefixRoot belongs only to a power-of-two smaller size',
        );
      let roots;
      try {
        roots = rootsFromConsistencyProof(
          small.size,
          large.size,
          e.proof.map(b64),
          e.prefixRoot === undefined ? undefined : b64(e.prefixRoot),
        );
      } catch (err) {
        if (err instanceof ProofError) throw new NotProven(`the consistency proof does not fit the sizes: ${err.message}`);
        throw err;
      }
      if (!equalBytes(roots.root, large.rootHash))
        throw new NotProven("the consistency proof does not reconstruct the larger checkpoint's root: it proves nothing");
      if (equalBytes(roots.prefix, small.rootHash))
        throw new NotProven('the consistency proof verifies: the checkpoints are consistent');
      return `${e.origin} signed a checkpoint of size ${large.size} whose first ${small.size} leaves have root ${toBase64(roots.prefix)}, and a checkpoint of size ${small.size} with root ${toBase64(small.rootHash)}`;
    }
    case 'conflicting-leaves': {
      const ca = open(e.a.note, trusted, e.origin, 'a.note');
      const cb = open(e.b.note, trusted, e.origin, 'b.note');
      if (e.a.leafHash === e.b.leafHash) throw new NotProven('the two leaf hashes are the same');
      for (const [name, w, c] of [
        ['a', e.a, ca],
        ['b', e.b, cb],
      ] as const) {
        let root;
        try {
          root = rootFromInclusionProof(b64(w.leafHash), e.index, c.size, w.proof.map(b64));
        } catch (err) {
          if (err instanceof ProofError) throw new NotProven(`${name}: the inclusion proof does not fit: ${err.message}`);
          throw err;
        }
        if (!equalBytes(root, c.rootHash)) throw new NotProven(`${name}: the inclusion proof does not verify under its note`);
      }
      return `${e.origin} signed checkpoints (sizes ${ca.size} and ${cb.size}) that hold different leaves at index ${e.index} (${e.a.leafHash}, ${e.b.leafHash})`;
    }
    case 'invalid-empty-tree': {
      const c = open(e.note, trusted, e.origin, 'note');
      if (c.size !== 0) throw new NotProven(`the checkpoint's size is ${c.size}, not 0`);
      if (equalBytes(c.rootHash, emptyRoot())) throw new NotProven("the checkpoint has the empty tree's root");
      return `${e.origin} signed a checkpoint of size 0 whose root hash is not the empty tree's`;
    }
    case 'unproven':
      e.notes.forEach((n, i) => open(n, trusted, e.origin, `notes[${i}]`));
      throw new NotProven(`an unproven observation (${e.observation}), not a proof of a fork: ${e.detail}`);
  }
}

// ---- building -----------------------------------------------------------------------------------

/** Two notes the caller has already opened (signatures verified) as checkpoints of one origin. */
export interface SignedCheckpoint {
  note: string;
  checkpoint: Checkpoint;
}

/**
 * The evidence two signed checkpoints of one origin give, or null when they can both be true. With
 * different sizes, `proof` is the consistency proof from the smaller to the larger (as the log or the
 * submitter served it) and `prefixRoot` the larger tree's root at the smaller size, when known: the
 * result is `inconsistent-prefix` only when they prove it, else `unproven`.
 */
export function classifyCheckpoints(
  x: SignedCheckpoint,
  y: SignedCheckpoint,
  opts: { proof?: readonly Uint8Array[] | null; prefixRoot?: Uint8Array | null } = {},
): Evidence | null {
  const origin = x.checkpoint.origin;
  if (y.checkpoint.origin !== origin) throw new Error('checkpoints of different origins');
  const base = { format: EVIDENCE_FORMAT, origin } as const;
  for (const s of [x, y]) {
    if (s.checkpoint.size === 0 && !equalBytes(s.checkpoint.rootHash, emptyRoot()))
      return { ...base, kind: 'invalid-empty-tree', note: s.note };
  }
  const [small, large] = x.checkpoint.size <= y.checkpoint.size ? [x, y] : [y, x];
  if (small.checkpoint.size === large.checkpoint.size) {
    if (equalBytes(small.checkpoint.rootHash, large.checkpoint.rootHash)) return null;
    // Sorted, so the same pair gives the same evidence (and id) whichever side reports it.
    const notes = [small.note, large.note].sort() as [string, string];
    return { ...base, kind: 'same-size-different-roots', notes };
  }
  // Every tree is consistent with the empty one.
  if (small.checkpoint.size === 0) return null;
  const m = small.checkpoint.size;
  const n = large.checkpoint.size;
  const notes = [small.note, large.note];
  if (!opts.proof)
    return {
      ...base,
      kind: 'unproven',
      observation: 'consistency-proof-unavailable',
      notes,
      detail: `no consistency proof from size ${m} to ${n} was available`,
    };
  const proof = opts.proof;
  try {
    verifyConsistency(m, n, proof, small.checkpoint.rootHash, large.checkpoint.rootHash);
    return null;
  } catch (err) {
    if (!(err instanceof ProofError)) throw err;
  }
  const prefixRoot = isPow2(m) ? (opts.prefixRoot ?? undefined) : undefined;
  try {
    const roots = rootsFromConsistencyProof(m, n, proof, prefixRoot);
    if (equalBytes(roots.root, large.checkpoint.rootHash) && !equalBytes(roots.prefix, small.checkpoint.rootHash)) {
      return {
        ...base,
        kind: 'inconsistent-prefix',
        smaller: small.note,
        larger: large.note,
        proof: proof.map(toBase64),
        ...(prefixRoot && { prefixRoot: toBase64(prefixRoot) }),
      };
    }
  } catch (err) {
    if (!(err instanceof ProofError)) throw err;
  }
  return {
    ...base,
    kind: 'unproven',
    observation: 'consistency-proof-fails',
    notes,
    proof: proof.map(toBase64),
    detail: `the consistency proof from size ${m} to ${n} does not verify, and does not prove a fork${
      isPow2(m) && !prefixRoot ? ` (size ${m} is a power of two and the larger tree's root at that size is unknown)` : ''
    }`,
  };
}

/**
 * Two leaves at one index, each with its inclusion proof under a signed checkpoint: `conflicting-
 * leaves` when both proofs verify and the leaves differ, `unproven` when a proof does not verify,
 * null when the leaves are the same.
 */
export function classifyLeaves(
  index: number,
  a: SignedCheckpoint & { leafHash: Uint8Array; proof: readonly Uint8Array[] },
  b: SignedCheckpoint & { leafHash: Uint8Array; proof: readonly Uint8Array[] },
): Evidence | null {
  const origin = a.checkpoint.origin;
  if (b.checkpoint.origin !== origin) throw new Error('checkpoints of different origins');
  if (equalBytes(a.leafHash, b.leafHash)) return null;
  const witness = (s: typeof a): LeafWitness => ({ note: s.note, leafHash: toBase64(s.leafHash), proof: s.proof.map(toBase64) });
  const failing = [a, b].find((s) => {
    try {
      return !equalBytes(rootFromInclusionProof(s.leafHash, index, s.checkpoint.size, s.proof), s.checkpoint.rootHash);
    } catch (err) {
      if (err instanceof ProofError) return true;
      throw err;
    }
  });
  if (failing)
    return {
      format: EVIDENCE_FORMAT,
      origin,
      kind: 'unproven',
      observation: 'inclusion-proof-fails',
      notes: [a.note, b.note],
      proof: failing.proof.map(toBase64),
      detail: `leaf ${index}: an inclusion proof of size ${failing.checkpoint.size} does not verify`,
    };
  return { format: EVIDENCE_FORMAT, origin, kind: 'conflicting-leaves', index, a: witness(a), b: witness(b) };
}

/**
 * A source served `later` after `earlier` though `later` is smaller: not a fork by itself (an old
 * checkpoint is still true), so `unproven`; classifyCheckpoints with a proof decides whether it is one.
 */
export function historyBackwards(earlier: SignedCheckpoint, later: SignedCheckpoint, source: string): Evidence {
  return {
    format: EVIDENCE_FORMAT,
    origin: earlier.checkpoint.origin,
    kind: 'unproven',
    observation: 'history-backwards',
    notes: [earlier.note, later.note],
    detail: `${source} served size ${later.checkpoint.size} after size ${earlier.checkpoint.size}`,
  };
}
