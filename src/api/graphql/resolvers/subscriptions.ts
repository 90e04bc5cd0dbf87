// Subscriptions: the listener is registered before `after` is looked up, so nothing slips between.
import type { StoredEvent } from '../../../storage/types.js';
import { ApiError } from '../../errors.js';
import { checkpointStream } from '../../subscriptions/checkpoint-stream.js';
import { CommittedEventStream } from '../../subscriptions/event-stream.js';
import { parseEventFilter, parseResumePoint, parseSourceAppId } from '../../validation/query-args.js';
import type { CheckpointUpdate } from '../../../log/service.js';
import type { Resolvers } from '../generated/resolvers.js';
import { CACHE_TTL_MS } from '../../../auth/authenticator.js';
import { guardStream } from '../../auth/guard.js';
import { mayAccessApp, requireApp, scopeFilter } from '../../../auth/scope.js';

/** Matching events a slow subscriber may fall behind before it must resume. */
export const MAX_BUFFERED_EVENTS = 10_000;
export const REPLAY_PAGE_SIZE = 500;
const MAX_BUFFERED_CHECKPOINTS = 1_000;

export const subscriptionResolvers: Resolvers = {
  Subscription: {
    eventLogged: {
      subscribe: async (_root, args, { service, metrics, principal, auth }) => {
        const filter = scopeFilter(principal, parseEventFilter(args.filter));
        const after = args.after != null ? parseResumePoint(args.after, 'after') : null;
        if (after) requireApp(principal, after.sourceAppId, 'after');
        const gauge = metrics.activeSubscriptions.labels({ field: 'eventLogged' });
        gauge.inc();
        const stream = new CommittedEventStream(service, {
          filter,
          maxBuffered: MAX_BUFFERED_EVENTS,
          replayPageSize: REPLAY_PAGE_SIZE,
          onEnd: (reason) => {
            gauge.dec();
            if (reason === 'resume') metrics.resumeRequired.inc({ field: 'eventLogged' });
          },
        });
        try {
          const afterEvent = after ? await service.getEvent(after.sourceAppId, after.seq) : null;
          // `<log>/-1` of a log with no event yet: its first event commits after the listener was
          // registered, so the stream starts live and misses none of it.
          if (after && !afterEvent && !after.including) {
            throw new ApiError('NOT_FOUND', `after: no event ${args.after}`, { field: 'after', rule: 'notFound' });
          }
          // Ends with UNAUTHENTICATED once the key is revoked.
          return guardStream(stream.start(afterEvent, after?.including), () => auth.stillValid(principal), CACHE_TTL_MS);
        } catch (err) {
          await stream.return();
          throw err;
        }
      },
      resolve: (event: StoredEvent) => event,
    },
    checkpointPublished: {
      subscribe: (_root, args, { service, metrics, principal, auth }) => {
        const sourceAppId = args.sourceAppId != null ? parseSourceAppId(args.sourceAppId) : null;
        if (sourceAppId !== null) requireApp(principal, sourceAppId);
        const gauge = metrics.activeSubscriptions.labels({ field: 'checkpointPublished' });
        gauge.inc();
        const stream = checkpointStream(service, {
          sourceAppId,
          allowed: (app) => mayAccessApp(principal, app),
          maxBuffered: MAX_BUFFERED_CHECKPOINTS,
          onEnd: (reason) => {
            gauge.dec();
            if (reason === 'resume') metrics.resumeRequired.inc({ field: 'checkpointPublished' });
          },
        });
        return guardStream(stream, () => auth.stillValid(principal), CACHE_TTL_MS);
      },
      resolve: (update: CheckpointUpdate) => update,
    },
  },
  CheckpointUpdate: {
    consistencyProof: (update) => update.consistencyHashes,
    // The proof the update already carries, between the two checkpoints it names: nothing is read.
    consistency: ({ checkpoint, previous, consistencyHashes }) =>
      previous && {
        sourceAppId: checkpoint.sourceAppId,
        fromSize: previous.treeSize,
        toSize: checkpoint.treeSize,
        fromRoot: previous.rootHash,
        toRoot: checkpoint.rootHash,
        hashes: consistencyHashes,
      },
  },
};
