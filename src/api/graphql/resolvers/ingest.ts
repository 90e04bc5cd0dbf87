// Writing events: both mutations go through the shared Ingest so REST and GraphQL enforce the same rules.
import type { Resolvers } from '../generated/resolvers.js';
import { requireIngestApps } from '../../../auth/scope.js';

export const ingestResolvers: Resolvers = {
  Mutation: {
    logEvent: (_root, { input }, { ingest, transport, principal }) => {
      requireIngestApps(principal, input, null);
      return ingest.one(input, transport);
    },
    logEvents: (_root, { inputs }, { ingest, transport, principal }) => {
      requireIngestApps(principal, inputs, 'inputs');
      return ingest.many(inputs, 'inputs', transport);
    },
  },
};
