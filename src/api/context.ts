// What every GraphQL resolver and REST handler gets for one request (or one WebSocket operation).
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { LogService } from '../log/service.js';
import type { Ingest, Transport } from './ingest.js';
import { createLoaders, type Loaders } from './loaders.js';
import type { ApiMetrics } from './metrics.js';

/** Who is calling. Authentication is not there yet: every request is anonymous (see access.ts). */
export interface Principal {
  kind: 'anonymous';
}

/** Built once per server. */
export interface ApiDeps {
  service: LogService;
  config: Config;
  logger: Logger;
  metrics: ApiMetrics;
  ingest: Ingest;
}

export interface ApiContext extends ApiDeps {
  transport: Transport;
  principal: Principal;
  loaders: Loaders;
}

export function createApiContext(deps: ApiDeps, transport: Transport, principal: Principal): ApiContext {
  return { ...deps, transport, principal, loaders: createLoaders(deps.service) };
}
