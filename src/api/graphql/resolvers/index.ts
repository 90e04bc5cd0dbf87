import type { Resolvers } from '../generated/resolvers.js';
import { eventResolvers } from './events.js';
import { erasureResolvers } from './erasure.js';
import { ingestResolvers } from './ingest.js';
import { logResolvers } from './logs.js';
import { proofResolvers } from './proofs.js';
import { receiptResolvers } from './receipts.js';
import { scalarResolvers } from './scalars.js';
import { serverInfoResolvers } from './server-info.js';
import { subscriptionResolvers } from './subscriptions.js';
import { witnessingResolvers } from './witnessing.js';
import { apiKeyResolvers } from '../../auth/resolvers.js';
import { inconsistencyResolvers } from './inconsistencies.js';

const parts: Resolvers[] = [
  scalarResolvers,
  eventResolvers,
  ingestResolvers,
  logResolvers,
  proofResolvers,
  serverInfoResolvers,
  subscriptionResolvers,
  apiKeyResolvers,
  receiptResolvers,
  witnessingResolvers,
  inconsistencyResolvers,
  erasureResolvers,
];

/** All resolvers, merged per type. */
export const resolvers: Resolvers = parts.reduce<Record<string, object>>((all, part) => {
  // Scalars are class instances: only plain field maps are merged.
  for (const [type, fields] of Object.entries(part)) all[type] = all[type] ? { ...all[type], ...fields } : fields;
  return all;
}, {});
