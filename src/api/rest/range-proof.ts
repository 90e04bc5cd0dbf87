// GET /v1/logs/<sourceAppId>/range-proof?start=S&end=E[&treeSize=N][&nodes=true]: the events [S, E) with
// their range proof, the same answer as GraphQL's rangeProof with the fields the auditor reads, written as one JSON
// document without graphql-js executing each field of each event (docs/performance.md, session 28: that
// execution was most of the server's time per event of an audit). It needs what GraphQL's rangeProof
// needs: a key whose role may prove (AUDITOR or ADMIN), scoped to the log. Errors are REST errors with
// the codes GraphQL gives (NOT_FOUND, BAD_USER_INPUT, MALFORMED_EVENT, ...). With nodes=true the answer adds
// `nodes`, the stored tree nodes the events complete (RangeProofResult.nodes), which the auditor checks
// against the tree it recomputes: every proof the service serves is made of them.
import express, { type Router } from 'express';
import { authorize, principalFrom } from '../access.js';
import type { ApiDeps } from '../context.js';
import { ApiError, badUserInput } from '../errors.js';
import { parseSourceAppId } from '../validation/query-args.js';
import { requireApp } from '../../auth/scope.js';
import { formatTime } from '../../core/leaf.js';
import type { RangeProofResult } from '../../log/service.js';

export const RANGE_PROOF_PATH = '/v1/logs/:app/range-proof';

const POSITION_RE = /^(?:0|[1-9][0-9]{0,15})$/;

/** A query parameter that must be a position: a decimal safe integer without leading zeros. */
function position(value: unknown, name: string, optional: boolean): number | undefined {
  if (value === undefined && optional) return undefined;
  if (typeof value !== 'string' || !POSITION_RE.test(value) || !Number.isSafeInteger(Number(value))) {
    throw badUserInput(name, 'format', `${name}: must be a position in the log (a decimal integer without leading zeros)`);
  }
  return Number(value);
}

/** A query parameter that is `true` or `false` (absent: false). */
function flag(value: unknown, name: string): boolean {
  if (value === undefined || value === 'false') return false;
  if (value === 'true') return true;
  throw badUserInput(name, 'format', `${name}: must be true or false`);
}

const NON_ASCII_RE = /[^\x00-\x7f]/;
const NON_ASCII_ALL_RE = /[^\x00-\x7f]/g;
const escapeUnit = (c: string) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;

/**
 * JSON text with every character past ASCII written as its JSON escape (`\u00f8`; a character past
 * U+FFFF as its two UTF-16 units): the same JSON value, in bytes that are their own Latin-1. Outside
 * strings JSON is ASCII, so each such character is inside a string, where the escape means the same
 * code unit. The page goes out as Latin-1 (a copy, no UTF-8 transcoding) with its length in bytes
 * known, and an auditor reads it as Latin-1 without UTF-8's checks (range-client.ts): on a page of
 * 1,000 events with a few names past ASCII, 1.3 ms less in the auditor and 0.2 ms less here (session 30).
 */
function asciiJson(text: string): string {
  return NON_ASCII_RE.test(text) ? text.replace(NON_ASCII_ALL_RE, escapeUnit) : text;
}

/**
 * The page's JSON text, all ASCII (asciiJson): the proof's head and its events, each event as GraphQL's
 * Event serves the fields the auditor asks for (src/auditor/queries.ts RANGE_PROOF), written by hand: the
 * same document JSON.stringify writes of those fields, without building an object per event or
 * serializing the payload again. What goes in unescaped is safe by the storage contract: the decoder
 * checked every hash and salt to be 64 lowercase hex characters and every time to be an integer of epoch
 * ms (formatTime writes it as `YYYY-MM-DDTHH:mm:ss.sssZ`); the payload is the text the decoder parsed into
 * a JSON object (RangeProofResult.payloadTexts), or, where there is none, the object serialized. Times through the leaf's
 * formatTime (the same text as toISOString for the years a stored time has, each second's text made
 * once): a page's events fall within a few seconds. Only the log's name, the event type and the payload
 * can hold a character past ASCII, so only they are scanned; the page is one string grown by
 * concatenation (session 31: a part per event, escaped whole and joined, cost 1.5 µs per event more).
 */
export function rangePageBody(sourceAppId: string, proof: RangeProofResult): string {
  const appJson = asciiJson(JSON.stringify(sourceAppId));
  const head = JSON.stringify({
    start: proof.start,
    end: proof.end,
    treeSize: proof.treeSize,
    leftHashes: proof.leftHashes,
    rightHashes: proof.rightHashes,
    ...(proof.nodes ? { nodes: proof.nodes } : {}),
  });
  let body = `${asciiJson(head).slice(0, -1)},"events":[`;
  const events = proof.events;
  // Read with the events (LogStorage.getEventRangeWithText), so only when there is one per event.
  const texts = proof.payloadTexts?.length === events.length ? proof.payloadTexts : undefined;
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    const app = e.sourceAppId === sourceAppId ? appJson : asciiJson(JSON.stringify(e.sourceAppId));
    const text = texts?.[i];
    const payload = e.payload === null ? 'null' : asciiJson(typeof text === 'string' ? text : JSON.stringify(e.payload));
    body +=
      (i === 0 ? '{"sourceAppId":' : ',{"sourceAppId":') +
      app +
      ',"seq":' +
      e.seq +
      ',"eventType":' +
      asciiJson(JSON.stringify(e.eventType)) +
      ',"timestamp":"' +
      formatTime(e.timestamp) +
      '","receivedAt":"' +
      formatTime(e.receivedAt) +
      '","payload":' +
      payload +
      ',"prevHash":"' +
      e.prevHash +
      '","hash":"' +
      e.hash +
      '","payloadHash":' +
      (e.payloadHash == null ? 'null' : `"${e.payloadHash}"`) +
      ',"payloadSalt":' +
      (e.payloadSalt == null ? 'null' : `"${e.payloadSalt}"`) +
      ',"erasedAt":' +
      (e.erasedAt == null ? 'null}' : `"${formatTime(e.erasedAt)}"}`);
  }
  return `${body}]}`;
}

export function rangeProofRouter(deps: ApiDeps): Router {
  const router = express.Router();
  router.get(RANGE_PROOF_PATH, async (req, res) => {
    const sourceAppId = parseSourceAppId(req.params.app);
    const principal = await principalFrom(deps.auth, req.headers);
    authorize(principal, 'query', ['rangeProof']);
    requireApp(principal, sourceAppId);
    const start = position(req.query.start, 'start', false)!;
    const end = position(req.query.end, 'end', false)!;
    const treeSize = position(req.query.treeSize, 'treeSize', true);
    const nodes = flag(req.query.nodes, 'nodes');
    const proof = await deps.service.rangeProof(sourceAppId, start, end, treeSize, { nodes });
    const body = rangePageBody(sourceAppId, proof);
    // The bound GraphQL puts on an answer's payloads, here on the whole document in bytes (its other fields
    // are under a kilobyte per event): a client reading it bounds what it reads by the same setting.
    if (body.length > deps.config.GRAPHQL_MAX_RESPONSE_BYTES) {
      throw new ApiError(
        'RESPONSE_TOO_LARGE',
        `the answer holds more than ${deps.config.GRAPHQL_MAX_RESPONSE_BYTES} bytes (GRAPHQL_MAX_RESPONSE_BYTES); ask for fewer events per request`,
        { rule: 'maxResponseBytes', extra: { limit: deps.config.GRAPHQL_MAX_RESPONSE_BYTES } },
      );
    }
    // ASCII: one byte per character, written as Latin-1 (what asciiJson is for).
    res
      .set({
        'Cache-Control': 'private, no-store',
        'Content-Type': 'application/json; charset=utf-8',
        'Content-Length': String(body.length),
      })
      .end(body, 'latin1');
  });
  return router;
}
