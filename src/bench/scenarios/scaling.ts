// 8. Horizontal scaling: ingest with 1 and with K API processes on one database.
//
// Not measured yet, on purpose: the service has no multi-process mode. Live subscriptions and the
// checkpoint schedule are driven by in-process commit notifications (a process never learns of events
// another process committed: its subscribers would miss them and its publisher would not checkpoint
// them), and the sequencer caches each log's head per process, resolving races with another writer only
// by a few conflict retries. Running K processes would produce numbers for a deployment the service does
// not support. When it does (the MongoDB issue), start K servers on one store with startServer({ store })
// and split scenario 1's clients across them.
import type { Scenario } from '../scenario.js';

export const SKIP_REASON =
  'the service has no multi-process mode yet: subscriptions and checkpoint publishing follow in-process commit ' +
  'notifications only, and log heads are cached per process (cross-process races end in CONFLICT after 3 retries); ' +
  'measuring K API processes on one database would measure an unsupported deployment';

export const scaling: Scenario = {
  id: '8',
  title: 'Horizontal scaling (1 vs K API processes on one database)',
  measures: 'Batch ingest throughput with 1 and with K API processes sharing one database (MongoDB engine).',
  async run(ctx) {
    return {
      figures: [],
      details: { engine: ctx.engine.name },
      skipped: ctx.engine.name === 'sqlite' ? `${SKIP_REASON}; on SQLite one file has one writer process by design` : SKIP_REASON,
    };
  },
};
