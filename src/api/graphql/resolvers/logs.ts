// Logs and their checkpoints.
import type { Resolvers } from '../generated/resolvers.js';
import { checkpointsConnection, logsConnection } from '../connections.js';
import { parseOptionalPosition, parseSourceAppId } from '../../validation/query-args.js';

export const logResolvers: Resolvers = {
  Query: {
    log: (_root, { sourceAppId }, { loaders }) => loaders.logHead.load(parseSourceAppId(sourceAppId)),
    logs: (_root, args, { service }) => logsConnection(service, args),
    checkpoint: (_root, args, { service }) =>
      service.getCheckpoint(parseSourceAppId(args.sourceAppId), parseOptionalPosition(args.treeSize, 'treeSize')),
  },
  Mutation: {
    publishCheckpoints: (_root, _args, { service }) => service.publishCheckpoints(),
  },
  Log: {
    origin: (log, _args, { service }) => `${service.info.originPrefix}/${log.sourceAppId}`,
    latestCheckpoint: (log, _args, { loaders }) => loaders.latestCheckpoint.load(log.sourceAppId),
    checkpoints: (log, args, { service }) => checkpointsConnection(service, log.sourceAppId, args),
  },
  Checkpoint: {
    origin: (c, _args, { service }) => `${service.info.originPrefix}/${c.sourceAppId}`,
  },
};
