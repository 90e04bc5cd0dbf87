// Writing events: both mutations go through the shared Ingest so REST and GraphQL enforce the same rules.
import type { Resolvers } from '../generated/resolvers.js';
import { requireIngestApps } from '../../../auth/scope.js';
import { withReceipts } from '../../receipt-wait.js';

export const ingestResolvers: Resolvers = {
  Mutation: {
    logEvent: async (_root, { input, waitForReceipt }, context) => {
      requireIngestApps(context.principal, input, null);
      const event = await context.ingest.one(input, context.transport);
      return waitForReceipt ? (await withReceipts(context, [event]))[0]! : event;
    },
    logEvents: async (_root, { inputs, waitForReceipt }, context) => {
      requireIngestApps(context.principal, inputs, 'inputs');
      const events = await context.ingest.many(inputs, 'inputs', context.transport);
      return waitForReceipt ? withReceipts(context, events) : events;
    },
  },
};
