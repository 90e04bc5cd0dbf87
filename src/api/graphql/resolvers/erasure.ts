// eraseEvents and the leaf version 2 fields of Log (schema/erasure.graphql).
import type { Resolvers } from '../generated/resolvers.js';
import { parseEraseInput } from '../../validation/erase-input.js';
import { LEAF_VERSION } from '../../../core/leaf.js';

export const erasureResolvers: Resolvers = {
  Mutation: {
    eraseEvents: (_root, { input }, { service, principal }) => {
      const { selection, reason } = parseEraseInput(input);
      // The record names the key that asked (AUTH=off: `open`).
      const by = principal.kind === 'key' ? principal.id : principal.kind;
      return service.eraseEvents({ selection, reason, by });
    },
  },
  Log: {
    leafVersion: async (log, _args, { service }) => (await service.leafVersionOf(log.sourceAppId)) ?? LEAF_VERSION,
  },
};
