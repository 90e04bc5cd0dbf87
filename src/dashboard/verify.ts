// Verification of one event in the browser, with the functions the auditor CLI trusts: the leaf hash
// recomputed from the event's fields (core/leaf), the inclusion proof folded to the root
// (auditor/proofs → core/proof) and the checkpoint note's signature checked against the pinned
// verifier key (auditor/checkpoint → core/note). The bundler gives the core its browser primitives.
import { checkCheckpointNote } from '../auditor/checkpoint.js';
import { checkPage, ERASURES_LOG } from '../auditor/erasure-records.js';
import type { Finding } from '../auditor/findings.js';
import { checkInclusion } from '../auditor/proofs.js';
import { toHex } from '../core/hex.js';
import { leafHashHex, payloadMatchesCommitment } from '../core/leaf.js';
import { parseVerifierKey } from '../core/note/signed-note.js';
import type { ErasureRecordsQuery, EventFieldsFragment, InclusionProofQuery } from './generated/graphql.js';

export type Proof = InclusionProofQuery['inclusionProof'];

export interface Step {
  name: string;
  /** null: neither shown nor refuted with what this key may read (the verdict does not fail for it). */
  ok: boolean | null;
  detail: string;
}

export interface Verdict {
  ok: boolean;
  steps: Step[];
  /** The verifier key used came from the server, not from the user. */
  keyFromServer: boolean;
}

export function verifyEvent(event: EventFieldsFragment, proof: Proof, verifierKey: string, keyFromServer: boolean): Verdict {
  const steps: Step[] = [];
  let leaf: string | null = null;
  try {
    leaf = leafHashHex({ ...event });
    steps.push(
      leaf === event.hash
        ? { name: 'Leaf hash recomputed', ok: true, detail: `SHA-256 of the leaf of this event's fields is ${leaf}` }
        : { name: 'Leaf hash recomputed', ok: false, detail: `the fields hash to ${leaf}, the server says ${event.hash}` },
    );
  } catch (err) {
    steps.push({ name: 'Leaf hash recomputed', ok: false, detail: `the fields cannot make a leaf: ${String(err)}` });
  }
  // Leaf version 2: the leaf holds a commitment to the payload; check it while the payload exists.
  if (event.payloadHash) {
    if (event.payload === null || event.payload === undefined) {
      steps.push({ name: 'Payload commitment', ok: true, detail: 'the payload was erased; the leaf alone is checked' });
    } else {
      const ok = payloadMatchesCommitment(event.payload, event.payloadSalt ?? '', event.payloadHash);
      steps.push({
        name: 'Payload commitment',
        ok,
        detail: ok
          ? `SHA-256 of the salt and the payload is the leaf's payloadHash ${event.payloadHash}`
          : `the payload and salt do not give the leaf's payloadHash ${event.payloadHash}`,
      });
    }
  }

  let verifier;
  try {
    verifier = parseVerifierKey(verifierKey);
  } catch (err) {
    steps.push({ name: 'Checkpoint signature', ok: false, detail: `the verifier key is unusable: ${String(err)}` });
    return { ok: false, steps, keyFromServer };
  }
  const origin = proof.checkpoint.origin;
  const opened = checkCheckpointNote(proof.checkpoint.note, verifier, origin);
  if (opened.checkpoint === null) {
    steps.push({ name: 'Checkpoint signature', ok: false, detail: opened.finding.message });
    return { ok: false, steps, keyFromServer };
  }
  const signedRoot = toHex(opened.checkpoint.rootHash);
  steps.push({
    name: 'Checkpoint signature',
    ok: true,
    detail: `the note of size ${opened.checkpoint.size} is signed by ${verifier.name} (key id ${toHex(verifier.keyId)}), root ${signedRoot}`,
  });

  if (opened.checkpoint.size !== proof.treeSize) {
    steps.push({
      name: 'Audit path folded to the root',
      ok: false,
      detail: `the proof is for tree size ${proof.treeSize}, the signed checkpoint has size ${opened.checkpoint.size}`,
    });
  } else {
    const bad = checkInclusion(
      event.seq,
      leaf ?? event.hash,
      { treeSize: opened.checkpoint.size, rootHash: opened.checkpoint.rootHash },
      proof.hashes,
    );
    steps.push(
      bad === null
        ? {
            name: 'Audit path folded to the root',
            ok: true,
            detail: `${proof.hashes.length} hashes fold leaf ${event.seq} to the signed root of tree size ${proof.treeSize}`,
          }
        : { name: 'Audit path folded to the root', ok: false, detail: bad.message },
    );
  }
  return { ok: steps.every((s) => s.ok !== false), steps, keyFromServer };
}

export type ErasurePage = ErasureRecordsQuery['erasureRecords'];

/**
 * Whether a record proven in the erasures log lists the erased event `sourceAppId/seq`, from the pages of
 * erasureRecords read from position 0 at one checkpoint (the first page's). `recent`: the erasure is
 * newer than the server checkpoints its records in, so a record missing from that checkpoint is not yet
 * a deletion. `keyReadsEveryLog`: the user says the key reads every log (the auditor's
 * --key-reads-every-log), so records withheld from it are the server hiding them, not the key's limits.
 */
export function checkErasure(
  sourceAppId: string,
  seq: number,
  pages: readonly ErasurePage[],
  verifierKey: string,
  originPrefix: string,
  recent: boolean,
  keyReadsEveryLog = false,
): Step {
  const name = 'Erasure recorded';
  const checkpoint = pages[0]?.checkpoint ?? null;
  const missing = (why: string): Step =>
    recent
      ? { name, ok: null, detail: `${why}; the erasure is recent, its record may not be checkpointed yet: reload in a moment` }
      : { name, ok: false, detail: `${why}: the payload was deleted outside the erasure path` };
  if (checkpoint === null) return missing('the erasures log has no checkpoint, so no record proves this erasure');
  let verifier;
  try {
    verifier = parseVerifierKey(verifierKey);
  } catch (err) {
    return { name, ok: false, detail: `the verifier key is unusable: ${String(err)}` };
  }
  const opened = checkCheckpointNote(checkpoint.note, verifier, `${originPrefix}/${ERASURES_LOG}`);
  if (opened.checkpoint === null) return { name, ok: false, detail: `the erasures log's ${opened.finding.message}` };
  const head = { treeSize: opened.checkpoint.size, rootHash: opened.checkpoint.rootHash };
  const findings: Finding[] = [];
  const withheld: number[] = [];
  for (const page of pages) {
    withheld.push(...page.withheld);
    for (const record of page.records) {
      const out = { listed: new Set<number>(), withheld: [] };
      checkPage({ records: [record], withheld: [], next: null }, head, { app: sourceAppId, findings }, out);
      if (out.listed.has(seq)) {
        return {
          name,
          ok: true,
          detail: `listed by erasure record ${ERASURES_LOG}/${record.event.seq}, whose leaf is in the erasures log's checkpoint of size ${head.treeSize} signed by ${verifier.name}`,
        };
      }
    }
  }
  const bad = findings.length > 0 ? ` (${findings.map((f) => f.message).join('; ')})` : '';
  if (withheld.length > 0 && keyReadsEveryLog) {
    return {
      name,
      ok: false,
      detail: `no record this key may read lists it${bad}; the server withheld ${withheld.length} record(s) from a key you say reads every log: either the key is limited to some logs, or the server hides them`,
    };
  }
  if (withheld.length > 0) {
    return {
      name,
      ok: null,
      detail: `no record this key may read lists it${bad}; ${withheld.length} record(s) that also name logs this key may not read are withheld: a key for every log can tell`,
    };
  }
  return missing(`no record proven in the erasures log's checkpoint of size ${head.treeSize} lists it${bad}`);
}

export interface PathNode {
  level: number;
  /** The sibling's hash from the proof, and which side of the path it sits on. */
  sibling: string;
  side: 'left' | 'right';
}

/**
 * Which side each proof hash joins the path on (RFC 9162 §2.1.3.2), for the drawing: the verdict comes
 * from checkInclusion, not from this.
 */
export function pathSides(leafIndex: number, treeSize: number, hashes: readonly string[]): PathNode[] {
  let fn = leafIndex;
  let sn = treeSize - 1;
  const out: PathNode[] = [];
  let level = 0;
  for (const p of hashes) {
    if (sn === 0) break;
    if (fn % 2 === 1 || fn === sn) {
      out.push({ level, sibling: p, side: 'left' });
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
          level++;
        }
      }
    } else {
      out.push({ level, sibling: p, side: 'right' });
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
    level++;
  }
  return out;
}
