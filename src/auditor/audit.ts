// The audit, step by step (docs/log-format.md "What a verifier does"): trusted checkpoint → consistency
// from the last trusted one → every event by range proofs → inclusion spot checks → remember the checkpoint.
import {
  equalBytes,
  fromHex,
  logVerifiers,
  PositionSet,
  toHex,
  verifierKeyString,
  ZERO_HASH_HEX,
  type Checkpoint,
  type NoteVerifier,
  type Policy,
} from '../core/index.js';
import { checkCheckpointNote } from './checkpoint.js';
import { finding, firstBadSeq, type Finding } from './findings.js';
import { ask, AuditAbort, must, refusalHint } from './asking.js';
import { ConnectionError, GraphqlError, ResponseShapeError, type GraphqlClient } from './graphql-client.js';
import { ERASURES_LOG } from './erasure-records.js';
import { listErasures } from './erasures.js';
import { checkConsistency, checkInclusion, consistencyNeed } from './proofs.js';
import * as q from './queries.js';
import { NO_ROUTE, type RangeClient } from './range-client.js';
import { verifyRangePage, type RangePage } from './range-page.js';
import type { StateFile } from './state-file.js';
import { checkWitnesses, type WitnessReport } from './witnesses.js';

/** Events per range proof at most: the server's limit on one rangeProof (not a connection's page size). */
export const MAX_RANGE_PROOF_EVENTS = 1000;

/**
 * Range proof requests in flight while a page is verified. One ahead left the server idle while the
 * auditor read and decoded an answer (session 30: the two processes overlapped ~57 % of the time);
 * three keep it busy. RangeClient's pool has four sockets: one for each, and one for halving a bad page.
 */
export const RANGE_PAGES_AHEAD = 3;
/** The most a caller may ask for: each page in flight is an answer of up to MAX_RANGE_RESPONSE_BYTES. */
export const RANGE_PAGES_AHEAD_MAX = 8;

export interface AuditOptions {
  client: GraphqlClient;
  /**
   * Where the range proofs come from: the REST route (one pre-serialized document per page). Without
   * it, or when the server has no such route (an older server), they come from GraphQL's rangeProof.
   */
  rangeClient?: RangeClient | undefined;
  url: string;
  app: string;
  verifier: NoteVerifier;
  /** Origin prefix to expect; default: what serverInfo says (the signature is what makes it binding). */
  originPrefix?: string | undefined;
  from: number;
  state: StateFile;
  spotChecks: number;
  pageSize?: number;
  /** Range proof requests in flight while a page is verified, 1-RANGE_PAGES_AHEAD_MAX (default RANGE_PAGES_AHEAD). */
  pagesAhead?: number;
  random?: () => number;
  /** Called after each page with the position verified up to. */
  onProgress?: (upTo: number, treeSize: number) => void;
  /** --policy: the checkpoint must carry its quorum of valid cosignatures (its `log` lines may pin the key). */
  policy?: Policy | undefined;
  /** --max-age in seconds (with a policy): the newest cosignature of a policy witness may not be older. */
  maxAgeSeconds?: number | undefined;
  /** The clock --max-age reads, in ms since the epoch. */
  now?: () => number;
  /** How long to wait for the erasures log's checkpoint to cover an erasure's record (default LATE_RECORD_WAIT_MS). */
  lateRecordWaitMs?: number | undefined;
  /**
   * --key-reads-every-log: the key's holder knows it may read every log (an AUDITOR or ADMIN key without
   * sourceAppIds). No erasure record may then be withheld from it: one that is is a finding
   * (WITHHELD_ERASURE_RECORDS), and an erased payload no record it reads lists is UNRECORDED_ERASURE,
   * not UNKNOWN. The server cannot say which keys are limited: only the holder can. Default false.
   */
  keyReadsEveryLog?: boolean | undefined;
  /**
   * Findings the report lists at most, those at the lowest positions (default MAX_FINDINGS); the rest are
   * counted in findingsOmitted. A server that alters every event cannot make the auditor hold a finding per event.
   */
  maxFindings?: number | undefined;
  /**
   * Called when an erased payload's record is not checkpointed yet, or (with a policy) the erasures log's
   * checkpoint is not cosigned yet, and the audit waits for it.
   */
  onWaitingForRecords?: ((treeSize: number | null) => void) | undefined;
}

/** 'unknown': the server did not give the consistency proof, so the new checkpoint may or may not extend the trusted one. */
export type ConsistencyStatus = 'first-run' | 'unchanged' | 'verified' | 'failed' | 'unknown';

/** OK: verified (exit 0); FAILED: a finding proves the log or server wrong (exit 1); UNKNOWN: neither could be shown (exit 2). */
export type Verdict = 'OK' | 'FAILED' | 'UNKNOWN';

export interface AuditReport {
  ok: boolean;
  verdict: Verdict;
  /** Why the verdict is UNKNOWN (null otherwise). */
  unknown: string | null;
  url: string;
  app: string;
  origin: string;
  checkpoint: { treeSize: number; rootHash: string } | null;
  /** The checkpoint trusted before this run. */
  trusted: { treeSize: number; rootHash: string } | null;
  consistency: ConsistencyStatus;
  /** Positions [from, to) checked by range proofs. */
  range: { from: number; to: number };
  eventsChecked: number;
  /** Leaf version 2 events served without their payload and listed in the erasures log: erased, not altered. */
  eventsErased: number;
  /**
   * Stored tree nodes the server served with the pages (the nodes every proof is made of), each compared with
   * the one the leaves give; 0 where the pages came from GraphQL's rangeProof, which has none.
   */
  treeNodesChecked: number;
  pages: number;
  spotChecked: number[];
  /** The findings at the lowest positions, at most AuditOptions.maxFindings (those without a position first). */
  findings: Finding[];
  /** Findings beyond that bound, not listed (their positions are above every listed one's). */
  findingsOmitted: number;
  firstBadSeq: number | null;
  stateUpdated: boolean;
  /** With --policy: the cosignatures of the policy's witnesses (null without --policy, or when one is forged). */
  witnesses: WitnessReport | null;
  /**
   * The erasures log's checkpoint the erased payloads were proven against (the newest read), and the one of
   * it trusted before this run, which it extends; null when no payload was erased (or the listing failed).
   */
  erasures: {
    origin: string;
    checkpoint: { treeSize: number; rootHash: string };
    trusted: { treeSize: number; rootHash: string } | null;
  } | null;
}

/** Findings that mean a range could not be proven against the checkpoint. */
const UNPROVEN = new Set<Finding['kind']>(['BAD_RANGE_PROOF', 'PROOF_UNAVAILABLE', 'MALFORMED_RESPONSE', 'MALFORMED_EVENT']);

export { AuditAbort };

/** Findings the report lists at most (AuditOptions.maxFindings), as verifyLog's MAX_PROBLEMS. */
export const MAX_FINDINGS = 1000;

/** Findings without a position (the checkpoint's, the server's) first, then by position; stable. */
const bySeq = (a: Finding, b: Finding): number => (a.seq ?? -1) - (b.seq ?? -1);

/** The first five positions of `seqs`, and `...` after them if there are more. */
const listed = (seqs: readonly number[]): string => `${seqs.slice(0, 5).join(', ')}${seqs.length > 5 ? ', ...' : ''}`;

function pickSeqs(from: number, to: number, n: number, random: () => number): number[] {
  const span = to - from;
  if (span <= 0) return [];
  const picked = new Set<number>();
  while (picked.size < Math.min(n, span)) picked.add(from + Math.floor(random() * span));
  return [...picked].sort((a, b) => a - b);
}

export async function runAudit(o: AuditOptions): Promise<AuditReport> {
  const { client, app } = o;
  const pageSize = Math.min(o.pageSize ?? MAX_RANGE_PROOF_EVENTS, MAX_RANGE_PROOF_EVENTS);
  const findings: Finding[] = [];
  const prefix =
    o.originPrefix ??
    (await must(() => client.request(q.SERVER_INFO, {}, q.serverInfoSchema), 'serverInfo')).serverInfo.originPrefix;
  const origin = `${prefix}/${app}`;
  // A policy's `log` lines for this origin pin its key: --key must be that key (under any name).
  const pinned = o.policy?.logs.filter((l) => l.origin === origin) ?? [];
  if (pinned.length > 0 && !pinned.some((l) => equalBytes(l.verifier.publicKey, o.verifier.publicKey))) {
    throw new AuditAbort(
      `--policy pins the log ${origin} to ${pinned.map((l) => l.vkey).join(', ')}, but --key is ${verifierKeyString(o.verifier.name, o.verifier.publicKey)}, another key: give the same key to both`,
    );
  }
  const trustedEntry = o.state.get(origin, o.verifier);
  // The erasures log is trusted like any log, under its own origin: whichever log was audited (with
  // whichever API key) when its checkpoint was last accepted, the next one must extend it.
  const erasuresOrigin = `${prefix}/${ERASURES_LOG}`;
  const erasuresTrusted = o.state.get(erasuresOrigin, o.verifier);
  /** The erasures log's checkpoint the audit accepted, to remember with the audited log's. */
  let erasuresAccepted: { treeSize: number; rootHash: string; note: string } | null = null;
  const trusted = trustedEntry && { treeSize: trustedEntry.treeSize, rootHash: fromHex(trustedEntry.rootHash) };
  const report: AuditReport = {
    ok: false,
    verdict: 'FAILED',
    unknown: null,
    url: o.url,
    app,
    origin,
    checkpoint: null,
    trusted: trustedEntry && { treeSize: trustedEntry.treeSize, rootHash: trustedEntry.rootHash },
    consistency: trusted ? 'failed' : 'first-run',
    range: { from: o.from, to: o.from },
    eventsChecked: 0,
    eventsErased: 0,
    treeNodesChecked: 0,
    pages: 0,
    spotChecked: [],
    findings,
    findingsOmitted: 0,
    firstBadSeq: null,
    stateUpdated: false,
    witnesses: null,
    erasures: null,
  };
  const maxFindings = o.maxFindings ?? MAX_FINDINGS;
  /** Keeps the lowest `maxFindings` findings once twice as many are held: memory bounded, the first bad position kept. */
  const boundFindings = (limit = 2 * maxFindings) => {
    if (findings.length < limit) return;
    findings.sort(bySeq);
    if (findings.length > maxFindings) {
      report.findingsOmitted += findings.length - maxFindings;
      findings.length = maxFindings;
    }
  };
  const finish = async (checkpoint: Checkpoint | null, note: string | null) => {
    boundFindings(maxFindings + 1);
    report.firstBadSeq = firstBadSeq(findings);
    report.verdict = findings.length > 0 ? 'FAILED' : report.unknown !== null ? 'UNKNOWN' : 'OK';
    report.ok = report.verdict === 'OK';
    if (report.ok && checkpoint && note !== null) {
      o.state.set(origin, o.verifier, {
        treeSize: checkpoint.size,
        rootHash: toHex(checkpoint.rootHash),
        note,
        verifiedAt: new Date().toISOString(),
        url: o.url,
      });
      if (erasuresAccepted) {
        o.state.set(erasuresOrigin, o.verifier, { ...erasuresAccepted, verifiedAt: new Date().toISOString(), url: o.url });
      }
      await o.state.save();
      report.stateUpdated = true;
    }
    return report;
  };

  // 1. The latest checkpoint, opened with the trusted key only.
  const { checkpoint: served } = await must(() => client.request(q.LATEST_CHECKPOINT, { app }, q.checkpointSchema), 'checkpoint');
  if (served === null) {
    if (!trusted) throw new AuditAbort(`the service has no checkpoint for ${app} yet`);
    findings.push(
      finding('ROLLBACK', 0, `the service has no checkpoint for ${app}, but one of size ${trusted.treeSize} was trusted before`),
    );
    return finish(null, null);
  }
  const opened = checkCheckpointNote(served.note, o.verifier, origin);
  if (opened.finding) {
    findings.push(opened.finding);
    return finish(null, null);
  }
  const cp = opened.checkpoint;
  report.checkpoint = { treeSize: cp.size, rootHash: toHex(cp.rootHash) };
  // The signed note is the truth; the service's own fields must say the same, or it misleads clients.
  if (served.treeSize !== cp.size || served.rootHash !== toHex(cp.rootHash)) {
    findings.push(
      finding(
        'BAD_CHECKPOINT',
        cp.size,
        `the service serves size ${served.treeSize} and root ${served.rootHash} for a checkpoint whose signed note says size ${cp.size} and root ${toHex(cp.rootHash)}`,
      ),
    );
  }
  const head = { treeSize: cp.size, rootHash: cp.rootHash };

  // 1b. With a policy, the checkpoint must be witnessed by its quorum (and, with --max-age, recently).
  if (o.policy) {
    const now = (o.now ?? Date.now)();
    const w = checkWitnesses(served.note, cp.size, logVerifiers(o.verifier, origin), o.policy, o.maxAgeSeconds ?? null, now);
    report.witnesses = w.report;
    findings.push(...w.findings);
  }

  // 2. Accept it only if it extends the checkpoint trusted last time.
  if (trusted) {
    const before = findings.length;
    const needProof = consistencyNeed(trusted, head) === 'proof';
    let proof: string[] | null = null;
    if (needProof) {
      const vars = { app, from: trusted.treeSize, to: cp.size };
      try {
        proof = (await client.request(q.CONSISTENCY_PROOF, vars, q.consistencyProofSchema)).consistencyProof.hashes;
      } catch (err) {
        if (err instanceof ResponseShapeError) {
          findings.push(finding('MALFORMED_RESPONSE', trusted.treeSize, `consistencyProof: ${err.message}`));
        } else if (err instanceof GraphqlError || err instanceof ConnectionError) {
          // The one answer that tells an extension from a fork: without it the verdict is neither OK nor FAILED.
          report.unknown =
            `the server did not give the consistency proof from the trusted size ${trusted.treeSize} to ${cp.size}, ` +
            `so whether its checkpoint extends the trusted one (or is a fork) is unknown: ${err.message}` +
            `${err instanceof GraphqlError ? refusalHint(err) : ''}`;
        } else throw err;
      }
    }
    if (!needProof || proof !== null) {
      const bad = checkConsistency(trusted, head, proof);
      if (bad) findings.push(bad);
    }
    report.consistency =
      findings.length > before
        ? 'failed'
        : report.unknown !== null
          ? 'unknown'
          : cp.size === trusted.treeSize
            ? 'unchanged'
            : 'verified';
    // Events are not checked against a checkpoint that may be a fork of what was trusted.
    if (report.unknown !== null) return finish(cp, served.note);
  }

  // 3. Every event from --from (and the one before it, to check the link into the range) by range proofs.
  const begin = Math.min(o.from > 0 ? o.from - 1 : 0, cp.size);
  report.range = { from: begin, to: cp.size };
  const spot = pickSeqs(Math.min(o.from, cp.size), cp.size, o.spotChecks, o.random ?? Math.random);
  const spotHashes = new Map<number, string>();
  let prev: string | null = begin === 0 ? ZERO_HASH_HEX : null;
  let rest = o.rangeClient;
  /** Whether the server has answered the REST route once (then it has it, or the audit asks GraphQL). */
  let routeKnown = rest === undefined;
  /** The range proof of [s, e): over REST while the server has the route, else over GraphQL. */
  const rangeProof = async (s: number, e: number): Promise<{ rangeProof: RangePage }> => {
    if (rest) {
      const page = await rest.rangeProof(app, s, e, cp.size).finally(() => (routeKnown = true));
      if (page !== NO_ROUTE) return { rangeProof: page };
      rest = undefined;
    }
    return client.request(q.RANGE_PROOF, { app, start: s, end: e, size: cp.size }, q.rangeProofSchema);
  };
  /** Whether [s, e) proves on its own against the checkpoint, and the last recomputed leaf hash. */
  const provesAlone = async (s: number, e: number, prevLeafHash: string | null) => {
    const sink: Finding[] = [];
    const page = await ask(() => rangeProof(s, e), s, `rangeProof [${s}, ${e})`, sink);
    if (page === null) return { ok: false, last: null };
    const r = verifyRangePage(page.rangeProof, { app, start: s, end: e, treeSize: cp.size, rootHash: cp.rootHash, prevLeafHash });
    return { ok: !r.findings.some((f) => UNPROVEN.has(f.kind)), last: r.leafHashes.at(-1) ?? null };
  };
  /** A page that does not prove as a whole: halve it until one position is left, O(log page) queries. */
  const firstUnproven = async (s: number, e: number, prevLeafHash: string | null): Promise<number> => {
    while (e - s > 1) {
      const mid = s + Math.floor((e - s) / 2);
      const left = await provesAlone(s, mid, prevLeafHash);
      if (left.ok) [s, prevLeafHash] = [mid, left.last];
      else e = mid;
    }
    return s;
  };

  /** Payload-less positions met, in log order: runs, so retention's millions take a few numbers. */
  const erasedSeqs = new PositionSet();
  const spotSet = new Set(spot);
  const ahead = Math.max(1, Math.min(o.pagesAhead ?? RANGE_PAGES_AHEAD, RANGE_PAGES_AHEAD_MAX));
  /**
   * The range proof of the page at `start`, asked now and awaited later: up to `ahead` pages' requests
   * are in flight while a page is verified, so the server always has the next page to serve while the
   * auditor checks one and decodes another (ahead + 1 pages in memory at most, each answer bounded in
   * bytes). A request that fails while no one awaits it is no unhandled rejection: its error is thrown,
   * and its findings kept, when the loop reaches its page, in page order.
   */
  const request = (start: number) => {
    const end = Math.min(cp.size, start + pageSize);
    const pageFindings: Finding[] = [];
    const answer = ask(() => rangeProof(start, end), start, `rangeProof [${start}, ${end})`, pageFindings);
    answer.catch(() => undefined);
    return { end, pageFindings, answer };
  };
  const inFlight: Array<ReturnType<typeof request>> = [];
  let asked = begin;
  const askAhead = () => {
    // The first page asks alone: a server without the route answers it once, not once per page in flight.
    while (inFlight.length < (routeKnown ? ahead : 1) && asked < cp.size) {
      const r = request(asked);
      inFlight.push(r);
      asked = r.end;
    }
  };
  askAhead();
  for (let start = begin; start < cp.size; start += pageSize) {
    const { end, pageFindings, answer } = inFlight.shift()!;
    const page = await answer;
    if (page !== null) askAhead();
    const result =
      page && verifyRangePage(page.rangeProof, { app, start, end, treeSize: cp.size, rootHash: cp.rootHash, prevLeafHash: prev });
    if (result) {
      pageFindings.push(...result.findings);
      for (const seq of result.erased) erasedSeqs.add(seq);
      report.treeNodesChecked += result.nodesChecked;
    }
    const unproven = pageFindings.findIndex((f) => UNPROVEN.has(f.kind) && f.seq === start);
    if (unproven >= 0 && end - start > 1) {
      // Name the first position that fails, not the page that contains it.
      const at = await firstUnproven(start, end, prev);
      const f = pageFindings[unproven]!;
      pageFindings[unproven] = finding(f.kind, at, `${f.message}; the first position that fails on its own is ${at}`);
    }
    findings.push(...pageFindings);
    boundFindings();
    if (page === null || !result) break; // the chain cannot be followed past a missing page
    result.leafHashes.forEach((h, i) => {
      if (h !== null && spotSet.has(start + i)) spotHashes.set(start + i, h);
    });
    prev = result.leafHashes.at(-1) ?? null;
    report.eventsChecked += end - start;
    report.pages++;
    o.onProgress?.(end, cp.size);
  }

  // Erased payloads: each must be listed by a record proven in the erasures log.
  if (erasedSeqs.size > 0) {
    const listing = await listErasures({
      client,
      app,
      originPrefix: prefix,
      verifier: o.verifier,
      erased: erasedSeqs,
      findings,
      lateRecordWaitMs: o.lateRecordWaitMs,
      onWaitingForRecords: o.onWaitingForRecords,
      trusted: erasuresTrusted && { treeSize: erasuresTrusted.treeSize, rootHash: fromHex(erasuresTrusted.rootHash) },
      policy: o.policy,
    });
    if (listing?.checkpoint) {
      const { treeSize, rootHash } = listing.checkpoint;
      erasuresAccepted = listing.checkpoint;
      report.erasures = {
        origin: erasuresOrigin,
        checkpoint: { treeSize, rootHash },
        trusted: erasuresTrusted && { treeSize: erasuresTrusted.treeSize, rootHash: erasuresTrusted.rootHash },
      };
    }
    if (listing !== null) {
      const unlisted = new PositionSet();
      for (const seq of erasedSeqs) if (!listing.listed.has(seq)) unlisted.add(seq);
      report.eventsErased += erasedSeqs.size - unlisted.size;
      if (listing.withheld.length > 0 && o.keyReadsEveryLog) {
        findings.push(
          finding(
            'WITHHELD_ERASURE_RECORDS',
            unlisted.lowest() ?? null,
            `the server withheld ${listing.withheld.length} record(s) of the erasures log that list this log ` +
              `(positions ${listed(listing.withheld)}) from a key said to read every log (--key-reads-every-log): ` +
              `either the key is limited to some logs, or the server hides them`,
          ),
        );
      }
      if (unlisted.size > 0 && listing.withheld.length > 0 && !o.keyReadsEveryLog) {
        // Withheld records may list them: only a key that may read every log they name can tell.
        report.unknown ??=
          `${unlisted.size} payload-less event(s) from position ${unlisted.lowest()} are not listed by the erasure records ` +
          `this key may read, and ${listing.withheld.length} record(s) of the erasures log that list this log also name ` +
          `logs this key may not read (positions ${listed(listing.withheld)}): ` +
          `whether they are erasures is unknown; verify with a key for every log those records name ` +
          `(with --key-reads-every-log, a key that reads them all)`;
      } else {
        const size = listing.treeSize === null ? 'has no checkpoint' : `checkpoint of size ${listing.treeSize}`;
        for (const seq of unlisted) {
          findings.push(
            finding(
              'UNRECORDED_ERASURE',
              seq,
              `event ${seq} is served without its payload, and no record the erasures log's ${size} covers lists it`,
            ),
          );
          boundFindings();
        }
      }
    }
  }

  // 4. Inclusion proofs of a few random events, against the recomputed leaves.
  for (const seq of spot) {
    const leaf = spotHashes.get(seq);
    if (leaf === undefined) continue;
    const vars = { app, seq, size: cp.size };
    const res = await ask(
      () => client.request(q.INCLUSION_PROOF, vars, q.inclusionProofSchema),
      seq,
      `inclusionProof ${seq}`,
      findings,
    );
    if (res === null) continue;
    const p = res.inclusionProof;
    if (p.leafIndex !== seq || p.treeSize !== cp.size) {
      findings.push(
        finding(
          'MALFORMED_RESPONSE',
          seq,
          `inclusion proof asked for ${seq} in ${cp.size} came back for ${p.leafIndex} in ${p.treeSize}`,
        ),
      );
      continue;
    }
    const bad = checkInclusion(seq, leaf, head, p.hashes);
    if (bad) findings.push(bad);
    report.spotChecked.push(seq);
  }

  findings.sort(bySeq);
  return finish(cp, served.note);
}
