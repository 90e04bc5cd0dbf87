import type { Resolvers } from '../generated/resolvers.js';
import { MAX_PAGE_SIZE } from '../../validation/rules.js';

export const serverInfoResolvers: Resolvers = {
  Query: {
    serverInfo: (_root, _args, { service }) => service.info,
  },
  ServerInfo: {
    witnessVerifierKey: (_info, _args, { witness }) => witness?.verifierKey ?? null,
    mirror: (_info, _args, { mirror }) => mirror?.status() ?? null,
    limits: (_info, _args, { config }) => ({
      maxPayloadBytes: config.MAX_PAYLOAD_BYTES,
      maxPayloadDepth: config.MAX_PAYLOAD_DEPTH,
      maxBatchSize: config.MAX_BATCH_SIZE,
      maxClockSkewMs: config.MAX_CLOCK_SKEW_MS,
      maxPageSize: MAX_PAGE_SIZE,
    }),
  },
};
