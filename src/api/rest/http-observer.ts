// Per-request metrics and structured access logs. Route labels come from a fixed list, never raw paths.
import type { ServerResponse } from 'node:http';
import type { RequestHandler } from 'express';
import type { Logger } from 'pino';
import type { ApiMetrics } from '../metrics.js';

const ROUTES = new Set(['/graphql', '/v1/events', '/healthz', '/metrics', '/witness/add-checkpoint']);
const QUIET = new Set(['/healthz', '/metrics']);

/** Counts, times and logs one request once its answer is sent; `path` is the path as the client sent it. */
export function observeRequest(metrics: ApiMetrics, logger: Logger, method: string, path: string, res: ServerResponse): void {
  const started = performance.now();
  res.on('finish', () => {
    const route = ROUTES.has(path) ? path : 'other';
    const labels = { method, route, status: String(res.statusCode) };
    const durationMs = performance.now() - started;
    metrics.httpRequests.inc(labels);
    metrics.httpDuration.observe(labels, durationMs / 1000);
    const fields = { method, path, status: res.statusCode, durationMs: Math.round(durationMs * 10) / 10 };
    if (res.statusCode >= 500) logger.error(fields, 'request failed');
    else if (QUIET.has(route)) logger.debug(fields, 'request');
    else logger.info(fields, 'request');
  });
}

export function httpObserver(metrics: ApiMetrics, logger: Logger): RequestHandler {
  return (req, res, next) => {
    // The path as the client sent it: routers mounted on a path (/graphql) rewrite req.url below them.
    observeRequest(metrics, logger, req.method, req.originalUrl.split('?', 1)[0]!, res);
    next();
  };
}
