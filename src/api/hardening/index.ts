// Hardening settings from the config: document limits, rate limits and WebSocket caps, built once per server.
import type { Config } from '../../config.js';
import { documentLimitsFromConfig, type DocumentLimits } from './document-limits.js';
import { createOriginPolicy, type OriginPolicy } from './origin.js';
import { createRateLimits, type RateLimits } from './rate-limit.js';
import { createWsGuards, type WsGuards } from './ws-guards.js';

export interface Hardening {
  documentLimits: DocumentLimits;
  rateLimits: RateLimits;
  wsGuards: WsGuards;
  /** ws maxPayload: the largest WebSocket message (frame) accepted; bigger ones close the socket with 1009. */
  wsMaxPayloadBytes: number;
  /** graphql-ws connectionInitWaitTimeout: sockets that do not send connection_init in time are closed (4408). */
  wsConnectionInitTimeoutMs: number;
  wsKeepAliveMs: number;
  /** How long a sender may wait on a WebSocket whose client takes none of its bytes (flushTimeoutMs in ws-transport.ts). */
  wsFlushTimeoutMs: number;
  /** GraphQL over SSE: one operation per stream, so its connection cap is also its subscription cap. */
  sseGuards: WsGuards;
  sseKeepAliveMs: number;
  /** How long an SSE stream's output may wait for a client that does not read it (endFlushMs in sse-server.ts). */
  sseFlushTimeoutMs: number;
  /** Host checks (DNS rebinding) on every request, Origin checks on WebSocket upgrades. */
  originPolicy: OriginPolicy;
}

/** `now`: the rate limits' clock (tests inject one). */
export function createHardening(config: Config, opts: { now?: () => number } = {}): Hardening {
  const rateLimits = createRateLimits({
    readsPerSec: config.RATE_LIMIT_READS_PER_SEC,
    writesPerSec: config.RATE_LIMIT_WRITES_PER_SEC,
    maxBatchSize: config.MAX_BATCH_SIZE,
    ...(opts.now && { now: opts.now }),
  });
  return {
    documentLimits: documentLimitsFromConfig(config),
    rateLimits,
    wsGuards: createWsGuards(
      {
        maxConnectionsPerClient: config.WS_MAX_CONNECTIONS_PER_CLIENT,
        maxSubscriptionsPerConnection: config.WS_MAX_SUBSCRIPTIONS_PER_CONNECTION,
        maxSubscriptionsPerClient: config.WS_MAX_SUBSCRIPTIONS_PER_CLIENT,
      },
      rateLimits,
    ),
    wsMaxPayloadBytes: config.WS_MAX_PAYLOAD_BYTES,
    wsConnectionInitTimeoutMs: config.WS_CONNECTION_INIT_TIMEOUT_MS,
    wsKeepAliveMs: config.WS_KEEP_ALIVE_MS,
    wsFlushTimeoutMs: config.WS_FLUSH_TIMEOUT_MS,
    sseGuards: createWsGuards(
      {
        maxConnectionsPerClient: config.SSE_MAX_CONNECTIONS_PER_CLIENT,
        maxSubscriptionsPerConnection: 1,
        maxSubscriptionsPerClient: config.SSE_MAX_CONNECTIONS_PER_CLIENT,
      },
      rateLimits,
    ),
    sseKeepAliveMs: config.SSE_KEEP_ALIVE_MS,
    sseFlushTimeoutMs: config.SSE_FLUSH_TIMEOUT_MS,
    originPolicy: createOriginPolicy({
      bindHost: config.HOST,
      allowedOrigins: config.ALLOWED_ORIGINS,
      allowedHosts: config.ALLOWED_HOSTS,
    }),
  };
}
