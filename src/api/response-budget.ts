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
  return new Budget(maxBytes);
}

/** A class, not an object literal with a getter: one is made for every GraphQL request. */
class Budget implements ResponseBudget {
  private used = 0;
  private over: ApiError | undefined = undefined;
  readonly bounded: boolean;

  constructor(private readonly maxBytes: number) {
    this.bounded = Number.isFinite(maxBytes);
  }

  get exceeded(): ApiError | undefined {
    return this.over;
  }

  charge(bytes: number): void {
    this.used += bytes;
    if (this.used > this.maxBytes) {
      this.over ??= new ApiError(
        'RESPONSE_TOO_LARGE',
        `the answer holds more than ${this.maxBytes} bytes of event payloads (GRAPHQL_MAX_RESPONSE_BYTES); ask for fewer events per request`,
        {
          rule: 'maxResponseBytes',
          extra: { limit: this.maxBytes },
        },
      );
      throw this.over;
    }
  }
}

export const UNBOUNDED: ResponseBudget = createResponseBudget(Infinity);
