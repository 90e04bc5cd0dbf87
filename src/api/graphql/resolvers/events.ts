// Reading events: the Relay connection, single lookups and the Event type's derived fields.
import type { Resolvers } from '../generated/resolvers.js';
import { eventsConnection } from '../connections.js';
import { eventId, parseEventId } from '../../validation/query-args.js';

export const eventResolvers: Resolvers = {
  Query: {
    events: (_root, args, { service }) => eventsConnection(service, args),
    event: async (_root, { id }, { service }) => {
      const { sourceAppId, seq } = parseEventId(id);
      return service.getEvent(sourceAppId, seq);
    },
  },
  Event: {
    id: (e) => eventId(e),
  },
};
