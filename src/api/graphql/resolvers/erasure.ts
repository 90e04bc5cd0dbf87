// eraseEvents, erasureRecords and the leaf version 2 fields of Log (schema/erasure.graphql).
import type { Resolvers } from '../generated/resolvers.js';
import { parseEraseInput } from '../../validation/erase-input.js';
import { parseOptionalPosition, parseSourceAppId } from '../../validation/query-args.js';
import { mayAccessApp, requireApp } from '../../../auth/scope.js';
import { LEAF_VERSION } from '../../../core/leaf.js';
import { LogError } from '../../../log/errors.js';

export const erasureResolvers: Resolvers = {
  Query: {
    erasureRecords: (_root, args, { service, principal }) => {
      const sourceAppId = parseSourceAppId(args.sourceAppId);
      requireApp(principal, sourceAppId);
      const treeSize = parseOptionalPosition(args.treeSize, 'treeSize');
      const from = parseOptionalPosition(args.from, 'from') ?? 0;
      const consistentWith = parseOptionalPosition(args.consistentWith, 'consistentWith');
      return service.erasureRecordsOf(sourceAppId, from, treeSize, (app) => mayAccessApp(principal, app), consistentWith);
    },
  },
  Mutation: {
    eraseEvents: async (_root, { input }, { service, principal }) => {
      const { selection, reason } = parseEraseInput(input);
      // The record names the key that asked (AUTH=off: `open`).
      const by = principal.kind === 'key' ? principal.id : principal.kind;
      try {
        return await service.eraseEvents({ selection, reason, by });
      } catch (err) {
        // The log names the selection's members; the client sent them inside `input`.
        if (err instanceof LogError) for (const d of err.details) if (d.field) d.field = `input.${d.field}`;
        throw err;
      }
    },
  },
  Log: {
    leafVersion: async (log, _args, { service }) => (await service.leafVersionOf(log.sourceAppId)) ?? LEAF_VERSION,
  },
};
