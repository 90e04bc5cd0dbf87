// GET /witness/<origin hash>/checkpoint (c2sp.org/tlog-witness, "Monitor Retrieval Mechanism"): this
// server's latest view of an origin it witnesses or follows, as a signed note (the log's signature,
// then this server's cosignature when it cosigned it). Public, like the witness protocol: the note's
// signatures are its authentication. 404 for an origin it has no view of.
import express, { type Router } from 'express';
import type { LocalViews } from '../../witness/views.js';

export const MONITORING_PREFIX = '/witness';

export function monitoringRouter(views: LocalViews): Router {
  const router = express.Router();
  router.get(`${MONITORING_PREFIX}/:hash/checkpoint`, async (req, res, next) => {
    try {
      const hash = req.params.hash;
      const origin = /^[0-9a-f]{64}$/.test(hash) ? views.originByHash(hash) : undefined;
      const view = origin === undefined ? null : await views.latest(origin);
      if (!view) {
        res.status(404).type('text/plain').send('no checkpoint of this origin here\n');
        return;
      }
      res.status(200).setHeader('Content-Type', 'text/plain; charset=utf-8');
      res.setHeader('Cache-Control', 'no-store');
      res.send(Buffer.from(view.note, 'utf8'));
    } catch (err) {
      next(err);
    }
  });
  return router;
}
