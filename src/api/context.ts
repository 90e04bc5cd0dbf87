// What every GraphQL resolver and REST handler gets for one request (or one WebSocket operation).
import type { Logger } from 'pino';
import type { Authenticator } from '../auth/authenticator.js';
import type { Principal } from '../auth/principal.js';
import type { Config } from '../config.js';
import type { LogService } from '../log/service.js';
import type { WitnessService } from '../witness/witness-service.js';
import type { Witnessing } from '../witnessing/witnessing.js';
import type { InconsistencyReporter } from '../inconsistency/reporter.js';
import type { Mirror } from '../mirror/follower.js';
import type { Ingest, Transport } from './ingest.js';
import { createLoaders, type Loaders } from './loaders.js';
import type { ApiMetrics } from './metrics.js';
import { createResponseBudget, UNBOUNDED, type ResponseBudget } from './response-budget.js';

/** Who is calling: established by access.ts (see src/auth/principal.ts). */
export type { Principal };

/** Built once per server. */
export interface ApiDeps {
  service: LogService;
  config: Config;
  logger: Logger;
  metrics: ApiMetrics;
  ingest: Ingest;
  auth: Authenticator;
  /** The C2SP witness, null when this server is none. */
  witness: WitnessService | null;
  /** The log's submission of its checkpoints to its witness policy, null when it has none. */
  witnessing: Witnessing | null;
  /** Where inconsistencies are recorded and announced; null when the server keeps none. */
  inconsistencies: InconsistencyReporter | null;
  /** The follower of the primary, null unless this server is a mirror. */
  mirror: Mirror | null;
}

export interface ApiContext extends ApiDeps {
  transport: Transport;
  principal: Principal;
  loaders: Loaders;
  /** GRAPHQL_MAX_RESPONSE_BYTES for one answer (queries, mutations); unbounded for subscriptions. */
  response: ResponseBudget;
}

export function createApiContext(
  deps: ApiDeps,
  transport: Transport,
  principal: Principal,
  opts: { subscription?: boolean } = {},
): ApiContext {
  const response = opts.subscription ? UNBOUNDED : createResponseBudget(deps.config.GRAPHQL_MAX_RESPONSE_BYTES);
  return new RequestContext(deps, transport, principal, response);
}

/**
 * One object per request, of one shape: a class, where an object literal spreading the deps with a
 * getter cost 10 µs a request (V8 makes such literals slow dictionaries). Its fields are plain
 * properties and `loaders` a getter of the prototype, so that Apollo's shallow clone of a context
 * (Object.assign onto an object of the same prototype) keeps working.
 */
class RequestContext implements ApiContext {
  readonly service: LogService;
  readonly config: Config;
  readonly logger: Logger;
  readonly metrics: ApiMetrics;
  readonly ingest: Ingest;
  readonly auth: Authenticator;
  readonly witness: WitnessService | null;
  readonly witnessing: Witnessing | null;
  readonly inconsistencies: InconsistencyReporter | null;
  readonly mirror: Mirror | null;
  /** Made on first use: most operations (every append) read no log through them. */
  private loadersMade: Loaders | undefined = undefined;

  constructor(
    deps: ApiDeps,
    readonly transport: Transport,
    readonly principal: Principal,
    readonly response: ResponseBudget,
  ) {
    this.service = deps.service;
    this.config = deps.config;
    this.logger = deps.logger;
    this.metrics = deps.metrics;
    this.ingest = deps.ingest;
    this.auth = deps.auth;
    this.witness = deps.witness;
    this.witnessing = deps.witnessing;
    this.inconsistencies = deps.inconsistencies;
    this.mirror = deps.mirror;
  }

  get loaders(): Loaders {
    return (this.loadersMade ??= createLoaders(this.service));
  }
}
