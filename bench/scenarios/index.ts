// Every scenario, in report order. Scenarios 4, 5, 7, 9 and 10 share one loaded server (see ../dataset.ts), in this order:
// 10 runs after 7 so that an audit's work does not count in 7's memory figures.
import type { Scenario } from '../scenario.js';
import { attacks } from './attacks.js';
import { auditFairness } from './audit-fairness.js';
import { batchIngest } from './batch-ingest.js';
import { federation } from './federation.js';
import { liveDelivery } from './live-delivery.js';
import { memory } from './memory.js';
import { peers } from './peers.js';
import { proofReady } from './proof-ready.js';
import { proofs } from './proofs.js';
import { queries } from './queries.js';
import { scaling } from './scaling.js';
import { singleIngest } from './single-ingest.js';

export const SCENARIOS: Scenario[] = [
  batchIngest,
  singleIngest,
  proofReady,
  federation,
  queries,
  proofs,
  liveDelivery,
  memory,
  scaling,
  attacks,
  auditFairness,
  peers,
];
