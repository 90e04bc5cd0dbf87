// POST /witness/add-checkpoint (c2sp.org/tlog-witness; the witness's submission prefix is /witness).
// Public by the protocol: a log's signature on the checkpoint is the only authentication. The body is
// read up to WITNESS_MAX_BODY_BYTES before any parsing; answers are text, as the protocol has them.
import express, { type ErrorRequestHandler, type Router } from 'express';
import type { WitnessService } from '../../witness/witness-service.js';

export const WITNESS_PREFIX = '/witness';
/** 63 proof lines, a checkpoint with extension lines and up to 100 signature lines fit well within it. */
export const WITNESS_MAX_BODY_BYTES = 64 * 1024;

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export function witnessRouter(witness: WitnessService): Router {
  const router = express.Router();
  router.post(
    `${WITNESS_PREFIX}/add-checkpoint`,
    // Any content type: the protocol names none, and clients send text/plain or nothing.
    express.raw({ type: () => true, limit: WITNESS_MAX_BODY_BYTES }),
    async (req, res, next) => {
      try {
        const raw: unknown = req.body;
        let body: string;
        try {
          body = Buffer.isBuffer(raw) ? utf8.decode(raw) : '';
        } catch {
          res.status(400).type('text/plain').send('body: must be UTF-8\n');
          return;
        }
        const answer = await witness.addCheckpoint(body);
        if (answer.retryAfter !== undefined) res.set('Retry-After', String(answer.retryAfter));
        // setHeader and a Buffer: express's set() and send() would append a charset to the protocol's exact
        // content type (text/x.tlog.size).
        res.status(answer.status).setHeader('Content-Type', answer.contentType);
        res.send(Buffer.from(answer.body, 'utf8'));
      } catch (err) {
        next(err);
      }
    },
  );
  const bodyErrors: ErrorRequestHandler = (err: { type?: string; status?: number }, _req, res, next) => {
    if (err.type === 'entity.too.large') {
      res.status(413).type('text/plain').send(`body: must be at most ${WITNESS_MAX_BODY_BYTES} bytes\n`);
    } else if (typeof err.status === 'number' && err.status >= 400 && err.status < 500) {
      res.status(400).type('text/plain').send('body: could not be read\n');
    } else {
      next(err);
    }
  };
  router.use(`${WITNESS_PREFIX}/add-checkpoint`, bodyErrors);
  return router;
}
