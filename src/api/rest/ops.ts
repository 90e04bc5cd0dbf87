// Operational endpoints: readiness for orchestrators, Prometheus scraping.
import express, { type Router } from 'express';
import type { Registry } from 'prom-client';

export function opsRouter(opts: { registry: Registry; isReady: () => boolean }): Router {
  const router = express.Router();
  router.get('/healthz', (_req, res) => {
    if (opts.isReady()) res.status(200).json({ status: 'ok' });
    else res.status(503).json({ status: 'unavailable' });
  });
  router.get('/metrics', async (_req, res) => {
    res.set('Content-Type', opts.registry.contentType).send(await opts.registry.metrics());
  });
  return router;
}
