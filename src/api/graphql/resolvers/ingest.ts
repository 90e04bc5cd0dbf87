// Writing events: both mutations go through the shared Ingest so REST and GraphQL enforce the same rules.
import type { Resolvers } from '../generated/resolvers.js';

export const ingestResolvers: Resolvers = {
  Mutation: {
    logEvent: (_root, { input }, { ingest, transport }) => ingest.one(input, transport),
    logEvents: (_root, { inputs }, { ingest, transport }) => ingest.many(inputs, 'inputs', transport),
  },
};
