// Every scenario, in report order.
import type { Scenario } from '../scenario.js';
import { batchIngest } from './batch-ingest.js';
import { liveDelivery } from './live-delivery.js';
import { proofReady } from './proof-ready.js';
import { singleIngest } from './single-ingest.js';

export const SCENARIOS: Scenario[] = [batchIngest, singleIngest, proofReady, liveDelivery];
