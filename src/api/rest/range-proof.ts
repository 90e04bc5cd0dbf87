// GET /v1/logs/<sourceAppId>/range-proof?start=S&end=E[&treeSize=N]: the events [S, E) with their range
// proof, the same answer as GraphQL's rangeProof with the fields the auditor reads, written as one JSON
// document without graphql-js executing each field of each event (docs/performance.md, session 28: that
// execution was most of the server's time per event of an audit). It needs what GraphQL's rangeProof
// needs: a key whose role may prove (AUDITOR or ADMIN), scoped to the log. Errors are REST errors with
// the codes GraphQL gives (NOT_FOUND, BAD_USER_INPUT, MALFORMED_EVENT, ...).
import express, { type Router } from 'express';
import { authorize, principalFrom } from '../access.js';
import type { ApiDeps } from '../context.js';
import { ApiError, badUserInput } from '../errors.js';
import { parseSourceAppId } from '../validation/query-args.js';
import { requireApp } from '../../auth/scope.js';
import { formatTime } from '../../core/leaf.js';
import type { StoredEvent } from '../../storage/types.js';

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

/**
 * The event as GraphQL's Event serves the fields the auditor asks for (src/auditor/queries.ts RANGE_PROOF).
 * Times through the leaf's formatTime (the same text as toISOString for the years a stored time has, each
 * second's text made once): a page's events fall within a few seconds.
 */
const served = (e: StoredEvent) => ({
  sourceAppId: e.sourceAppId,
  seq: e.seq,
  eventType: e.eventType,
  timestamp: formatTime(e.timestamp),
  receivedAt: formatTime(e.receivedAt),
  payload: e.payload,
  prevHash: e.prevHash,
  hash: e.hash,
  payloadHash: e.payloadHash ?? null,
  payloadSalt: e.payloadSalt ?? null,
  erasedAt: e.erasedAt == null ? null : formatTime(e.erasedAt),
});

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
    const proof = await deps.service.rangeProof(sourceAppId, start, end, treeSize);
    const body = JSON.stringify({
      start: proof.start,
      end: proof.end,
      treeSize: proof.treeSize,
      leftHashes: proof.leftHashes,
      rightHashes: proof.rightHashes,
      events: proof.events.map(served),
    });
    // The bound GraphQL puts on an answer's payloads, here on the whole document (its other fields are
    // under a kilobyte per event): a client reading it bounds what it reads by the same setting.
    if (body.length > deps.config.GRAPHQL_MAX_RESPONSE_BYTES) {
      throw new ApiError(
        'RESPONSE_TOO_LARGE',
        `the answer holds more than ${deps.config.GRAPHQL_MAX_RESPONSE_BYTES} bytes (GRAPHQL_MAX_RESPONSE_BYTES); ask for fewer events per request`,
        { rule: 'maxResponseBytes', extra: { limit: deps.config.GRAPHQL_MAX_RESPONSE_BYTES } },
      );
    }
    res.set('Cache-Control', 'private, no-store').type('application/json').send(body);
  });
  return router;
}
