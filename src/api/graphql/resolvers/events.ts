// Reading events: the Relay connection, single lookups and the Event type's derived fields.
import type { Resolvers } from '../generated/resolvers.js';
import { eventsConnection } from '../connections.js';
import { requireApp, scopeFilter } from '../../../auth/scope.js';
import { eventId, parseEventId } from '../../validation/query-args.js';
import { isReplay } from '../../../log/replays.js';

export const eventResolvers: Resolvers = {
  Query: {
    events: (_root, args, { service, principal }) => eventsConnection(service, args, (f) => scopeFilter(principal, f)),
    event: async (_root, { id }, { service, principal }) => {
      const { sourceAppId, seq } = parseEventId(id);
      requireApp(principal, sourceAppId, 'id');
      return service.getEvent(sourceAppId, seq);
    },
  },
  Event: {
    id: (e) => eventId(e),
    replayed: (e) => isReplay(e),
    // Counted against the answer's byte bound (src/api/response-budget.ts) before it is serialized.
    payload: (e, _args, { response }) => {
      if (response.bounded) response.charge(JSON.stringify(e.payload).length);
      return e.payload;
    },
  },
};
