// A bound on what one answer carries, counted while it is built: the event payloads it holds (the only
// part of an event whose size the client does not bound through GRAPHQL_MAX_ITEMS). Past the bound,
// every further payload fails and the transport sends the RESPONSE_TOO_LARGE error alone, without data.
import { ApiError } from './errors.js';

export interface ResponseBudget {
  /** The error once the bound is passed, else undefined. */
  readonly exceeded: ApiError | undefined;
  /** Whether charges are counted at all (subscriptions send one event per message and are not). */
  readonly bounded: boolean;
  /** Adds `bytes`; throws RESPONSE_TOO_LARGE once the total passes the bound. */
  charge(bytes: number): void;
}

export function createResponseBudget(maxBytes: number): ResponseBudget {
  let used = 0;
  let exceeded: ApiError | undefined;
  return {
    get exceeded() {
      return exceeded;
    },
    bounded: Number.isFinite(maxBytes),
    charge(bytes) {
      used += bytes;
      if (used > maxBytes) {
        exceeded ??= new ApiError(
          'RESPONSE_TOO_LARGE',
          `the answer holds more than ${maxBytes} bytes of event payloads (GRAPHQL_MAX_RESPONSE_BYTES); ask for fewer events per request`,
          {
            rule: 'maxResponseBytes',
            extra: { limit: maxBytes },
          },
        );
        throw exceeded;
      }
    },
  };
}

export const UNBOUNDED: ResponseBudget = createResponseBudget(Infinity);
