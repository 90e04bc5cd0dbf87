// Logs and their checkpoints.
import type { Resolvers } from '../generated/resolvers.js';
import { checkpointsConnection, logsConnection } from '../connections.js';
import { parseOptionalPosition, parseSourceAppId } from '../../validation/query-args.js';
import { scopeOf } from '../../../auth/principal.js';
import { requireApp } from '../../../auth/scope.js';
import { scopedLogsConnection } from '../../auth/scoped-logs.js';

const allowedApp = (principal: Parameters<typeof requireApp>[0], value: string) => {
  const sourceAppId = parseSourceAppId(value);
  requireApp(principal, sourceAppId);
  return sourceAppId;
};

export const logResolvers: Resolvers = {
  Query: {
    log: (_root, { sourceAppId }, { loaders, principal }) => loaders.logHead.load(allowedApp(principal, sourceAppId)),
    logs: (_root, args, { service, principal }) => {
      const scope = scopeOf(principal);
      return scope === null ? logsConnection(service, args) : scopedLogsConnection(service, scope, args);
    },
    checkpoint: (_root, args, { service, principal }) =>
      service.getCheckpoint(allowedApp(principal, args.sourceAppId), parseOptionalPosition(args.treeSize, 'treeSize')),
  },
  Mutation: {
    publishCheckpoints: (_root, _args, { service }) => service.publishCheckpoints(),
  },
  Log: {
    origin: (log, _args, { service }) => `${service.info.originPrefix}/${log.sourceAppId}`,
    verifierKey: (log, _args, { service }) => service.verifierKeyOf(log.sourceAppId),
    latestCheckpoint: (log, _args, { loaders }) => loaders.latestCheckpoint.load(log.sourceAppId),
    checkpoints: (log, args, { service }) => checkpointsConnection(service, log.sourceAppId, args),
    quarantine: (log, _args, { service }) => service.quarantineOf?.(log.sourceAppId) ?? null,
  },
  Checkpoint: {
    origin: (c, _args, { service }) => `${service.info.originPrefix}/${c.sourceAppId}`,
  },
};
