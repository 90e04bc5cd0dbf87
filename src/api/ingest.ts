// Validate then append: shared by GraphQL mutations and REST so both write under the same rules.
import type { Config } from '../config.js';
import { readOnlyMirror } from '../log/errors.js';
import type { LogService } from '../log/service.js';
import type { StoredEvent } from '../storage/types.js';
import type { ApiMetrics } from './metrics.js';
import { eventInputSchema, ingestLimits, validateEventBatch, validateEventInput } from './validation/event-input.js';

export type Transport = 'graphql' | 'ws' | 'sse' | 'rest';

export interface Ingest {
  one(input: unknown, transport: Transport): Promise<StoredEvent>;
  /** All or nothing; `batchField` names the list in errors (`inputs` in GraphQL, `body` in REST). */
  many(inputs: unknown, batchField: string, transport: Transport): Promise<StoredEvent[]>;
}

export function createIngest(service: LogService, config: Config, metrics: ApiMetrics): Ingest {
  const limits = ingestLimits(config);
  const schema = eventInputSchema(limits);
  // A mirror refuses every write before looking at it: whatever the input, the answer is to write on its primary.
  const refuse = () => {
    if (service.info.mirrorOf !== undefined) throw readOnlyMirror(service.info.mirrorOf);
  };
  const append = async (requests: Parameters<LogService['append']>[0], transport: Transport) => {
    const events = await service.append(requests);
    metrics.eventsIngested.inc({ transport }, events.length);
    return events;
  };
  return {
    async one(input, transport) {
      refuse();
      const [event] = await append([validateEventInput(schema, input)], transport);
      return event!;
    },
    many: async (inputs, batchField, transport) => {
      refuse();
      return append(validateEventBatch(schema, inputs, limits, batchField), transport);
    },
  };
}
