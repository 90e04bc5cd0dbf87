// The inconsistencies query and the inconsistencyDetected subscription (schema/inconsistencies.graphql).
// Who may read them is in src/auth/permissions.ts (auditor and admin); a scoped key sees the records of
// its source applications only, never those of no application (another server's logs).
import { scopeOf, type Principal } from '../../../auth/principal.js';
import { requireApp } from '../../../auth/scope.js';
import { CACHE_TTL_MS } from '../../../auth/authenticator.js';
import type { InconsistencyKey, InconsistencyRecord } from '../../../storage/inconsistency-store.js';
import { guardStream } from '../../auth/guard.js';
import { ApiError, badUserInput } from '../../errors.js';
import { inconsistencyStream } from '../../subscriptions/inconsistency-stream.js';
import { pageSize, parseSourceAppId } from '../../validation/query-args.js';
import type { ApiContext } from '../../context.js';
import type { InconsistencyDetector, InconsistencyFilter, InconsistencyKind, Resolvers } from '../generated/resolvers.js';

const MAX_BUFFERED_INCONSISTENCIES = 1_000;
const MAX_ORIGIN_LENGTH = 1024;
// An origin is one line of a note: no control characters.
const CONTROL = /[\x00-\x1f\x7f]/;
const CURSOR = /^[A-Za-z0-9_-]{1,256}$/;
const CURSOR_TEXT = /^n1:(0|[1-9]\d{0,15}):([0-9a-f]{64})$/;

interface ParsedFilter {
  origin?: string;
  /** null: every application and none. */
  sourceAppIds: string[] | null;
}

function parseFilter(filter: InconsistencyFilter | null | undefined, principal: Principal): ParsedFilter {
  const parsed: ParsedFilter = { sourceAppIds: scopeOf(principal) === null ? null : [...scopeOf(principal)!] };
  if (filter?.origin != null) {
    const origin = filter.origin;
    if (origin === '' || origin.length > MAX_ORIGIN_LENGTH || CONTROL.test(origin))
      throw badUserInput(
        'filter.origin',
        'format',
        `filter.origin: must be a checkpoint origin line, 1 to ${MAX_ORIGIN_LENGTH} characters without control characters`,
      );
    parsed.origin = origin;
  }
  if (filter?.sourceAppId != null) {
    const app = parseSourceAppId(filter.sourceAppId, 'filter.sourceAppId');
    requireApp(principal, app, 'filter.sourceAppId');
    parsed.sourceAppIds = [app];
  }
  return parsed;
}

const encodeCursor = (r: InconsistencyKey) => Buffer.from(`n1:${r.detectedAt}:${r.id}`, 'utf8').toString('base64url');

function decodeCursor(cursor: string, field: string): InconsistencyKey {
  const text = CURSOR.test(cursor) ? Buffer.from(cursor, 'base64url').toString('utf8') : '';
  const m = CURSOR_TEXT.exec(text);
  if (!m || Buffer.from(text, 'utf8').toString('base64url') !== cursor || !Number.isSafeInteger(Number(m[1])))
    throw badUserInput(field, 'cursor', `${field}: is not a cursor this API issued for this list`);
  return { detectedAt: Number(m[1]), id: m[2]! };
}

function requireReporter(ctx: ApiContext) {
  if (!ctx.inconsistencies) throw new ApiError('NOT_FOUND', 'this server keeps no inconsistencies', { rule: 'unavailable' });
  return ctx.inconsistencies;
}

const KINDS: Record<string, InconsistencyKind> = {
  'same-size-different-roots': 'SAME_SIZE_DIFFERENT_ROOTS',
  'inconsistent-prefix': 'INCONSISTENT_PREFIX',
  'conflicting-leaves': 'CONFLICTING_LEAVES',
  'invalid-empty-tree': 'INVALID_EMPTY_TREE',
  unproven: 'UNPROVEN',
};
const DETECTORS: Record<string, InconsistencyDetector> = { witness: 'WITNESS', mirror: 'MIRROR', peer: 'PEER' };

export const inconsistencyResolvers: Resolvers = {
  Query: {
    inconsistencies: async (_root, args, ctx) => {
      const filter = parseFilter(args.filter, ctx.principal);
      const n = pageSize(args.first, 'first');
      const after = args.after != null ? decodeCursor(args.after, 'after') : undefined;
      const rows = await requireReporter(ctx).store.list({
        ...(filter.origin !== undefined && { origin: filter.origin }),
        sourceAppIds: filter.sourceAppIds,
        ...(after && { after }),
        limit: n + 1,
      });
      const nodes = rows.slice(0, n);
      const edges = nodes.map((node) => ({ cursor: encodeCursor(node), node }));
      return {
        edges,
        nodes,
        pageInfo: {
          hasNextPage: rows.length > n,
          hasPreviousPage: after !== undefined,
          startCursor: edges[0]?.cursor ?? null,
          endCursor: edges.at(-1)?.cursor ?? null,
        },
      };
    },
  },
  Subscription: {
    inconsistencyDetected: {
      subscribe: (_root, args, ctx) => {
        const filter = parseFilter(args.filter, ctx.principal);
        const reporter = requireReporter(ctx);
        const gauge = ctx.metrics.activeSubscriptions.labels({ field: 'inconsistencyDetected' });
        gauge.inc();
        const stream = inconsistencyStream(reporter, {
          matches: (r) =>
            (filter.origin === undefined || r.origin === filter.origin) &&
            (filter.sourceAppIds === null || (r.sourceAppId !== null && filter.sourceAppIds.includes(r.sourceAppId))),
          maxBuffered: MAX_BUFFERED_INCONSISTENCIES,
          onEnd: (reason) => {
            gauge.dec();
            if (reason === 'resume') ctx.metrics.resumeRequired.inc({ field: 'inconsistencyDetected' });
          },
        });
        return guardStream(stream, () => ctx.auth.stillValid(ctx.principal), CACHE_TTL_MS);
      },
      resolve: (record: InconsistencyRecord) => record,
    },
  },
  Inconsistency: {
    kind: (r) => KINDS[r.kind] ?? 'UNPROVEN',
    detectedBy: (r) => DETECTORS[r.detectedBy]!,
  },
};
