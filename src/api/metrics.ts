// The API's Prometheus metrics. Labels are bounded: routes and operation types, never client-chosen names.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export interface ApiMetrics {
  httpRequests: Counter<'method' | 'route' | 'status'>;
  httpDuration: Histogram<'method' | 'route' | 'status'>;
  graphqlOperations: Counter<'type' | 'outcome'>;
  graphqlDuration: Histogram<'type'>;
  apiErrors: Counter<'code' | 'transport'>;
  eventsIngested: Counter<'transport'>;
  activeSubscriptions: Gauge<'field'>;
  wsConnections: Gauge;
  resumeRequired: Counter<'field'>;
  documentsRefused: Counter<'rule' | 'transport'>;
  wsDropped: Counter<'reason'>;
  largeBodies: Gauge;
  largeBodyChecks: Counter<'outcome'>;
}

/** Registers on `registry`; call once per registry. */
export function createApiMetrics(registry: Registry): ApiMetrics {
  const registers = [registry];
  return {
    httpRequests: new Counter({
      name: 'chainlog_http_requests_total',
      help: 'HTTP requests by method, route and status.',
      labelNames: ['method', 'route', 'status'] as const,
      registers,
    }),
    httpDuration: new Histogram({
      name: 'chainlog_http_request_duration_seconds',
      help: 'HTTP request duration by method, route and status.',
      labelNames: ['method', 'route', 'status'] as const,
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    graphqlOperations: new Counter({
      name: 'chainlog_graphql_operations_total',
      help: 'GraphQL operations by type (query, mutation, subscription, unknown) and outcome (ok, error).',
      labelNames: ['type', 'outcome'] as const,
      registers,
    }),
    graphqlDuration: new Histogram({
      name: 'chainlog_graphql_operation_duration_seconds',
      help: 'GraphQL query and mutation duration over HTTP by operation type.',
      labelNames: ['type'] as const,
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    apiErrors: new Counter({
      name: 'chainlog_api_errors_total',
      help: 'Errors returned to clients by extensions.code and transport (graphql, ws, rest).',
      labelNames: ['code', 'transport'] as const,
      registers,
    }),
    eventsIngested: new Counter({
      name: 'chainlog_api_events_ingested_total',
      help: 'Events accepted by the API by transport (graphql, ws, rest).',
      labelNames: ['transport'] as const,
      registers,
    }),
    activeSubscriptions: new Gauge({
      name: 'chainlog_graphql_active_subscriptions',
      help: 'Open GraphQL subscriptions by field.',
      labelNames: ['field'] as const,
      registers,
    }),
    wsConnections: new Gauge({
      name: 'chainlog_ws_connections',
      help: 'Open graphql-ws WebSocket connections.',
      registers,
    }),
    resumeRequired: new Counter({
      name: 'chainlog_graphql_subscriptions_resume_required_total',
      help: 'Subscriptions ended because the subscriber fell too far behind.',
      labelNames: ['field'] as const,
      registers,
    }),
    documentsRefused: new Counter({
      name: 'chainlog_graphql_documents_refused_total',
      help: 'GraphQL documents refused by a shape limit (maxSelections, maxFields) before validation, by transport.',
      labelNames: ['rule', 'transport'] as const,
      registers,
    }),
    wsDropped: new Counter({
      name: 'chainlog_ws_clients_dropped_total',
      help: 'WebSocket clients dropped because they stopped reading, by reason (pong: no answer to a ping; unsent: closed with frames unsent).',
      labelNames: ['reason'] as const,
      registers,
    }),
    largeBodies: new Gauge({
      name: 'chainlog_large_bodies',
      help: 'JSON request bodies over JSON_BODY_THREAD_BYTES being read or checked in the body-checking thread.',
      registers,
    }),
    largeBodyChecks: new Counter({
      name: 'chainlog_large_body_checks_total',
      help: 'Large JSON bodies by outcome: accepted, refused (by the checks), busy (too many at once), failed (the thread failed).',
      labelNames: ['outcome'] as const,
      registers,
    }),
  };
}
