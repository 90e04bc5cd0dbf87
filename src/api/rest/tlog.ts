// Read-only C2SP tlog-tiles of each log (c2sp.org/tlog-tiles), with the prefix /tlog/<sourceAppId>/:
// checkpoint, tile/<L>/<N>[.p/<W>] and tile/entries/<N>[.p/<W>]; and each event's receipt, a C2SP
// tlog-proof (c2sp.org/tlog-proof), at /v1/events/<sourceAppId>/<seq>/receipt. Reading needs what
// reading the log through GraphQL needs (a key whose role may read, scoped to the log), except for the
// logs TLOG_PUBLIC_LOGS names, whose tiles anyone may read. GETs are open to every origin (CORS).
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import express, { type Request, type Response, type Router } from 'express';
import { authorize, principalFrom } from '../access.js';
import type { ApiDeps } from '../context.js';
import { ApiError, badUserInput } from '../errors.js';
import { parseSourceAppId } from '../validation/query-args.js';
import { requireApp } from '../../auth/scope.js';
import { parseTilePath, TilePathError } from '../../core/tiles.js';
import { receiptOf } from '../../log/receipts.js';

export const TLOG_PREFIX = '/tlog';
/** Full tiles never change (c2sp.org/tlog-tiles): a year, and never revalidated. */
const IMMUTABLE = 'max-age=31536000, immutable';

/** Whose tiles may be read without a key: `*` or the listed sourceAppIds. */
export function isPublicLog(publicLogs: readonly string[], sourceAppId: string): boolean {
  return publicLogs.includes('*') || publicLogs.includes(sourceAppId);
}

/** Open CORS for GETs (and the preflight a GET with an API key header needs). */
function cors(req: Request, res: Response, next: () => void): void {
  res.set('Access-Control-Allow-Origin', '*');
  res.set('Access-Control-Expose-Headers', 'ETag, Retry-After');
  if (req.method === 'OPTIONS') {
    res.set('Access-Control-Allow-Methods', 'GET, HEAD, OPTIONS');
    res.set('Access-Control-Allow-Headers', 'Authorization, x-api-key, If-None-Match');
    res.set('Access-Control-Max-Age', '600');
    res.status(204).end();
    return;
  }
  next();
}

/** A strong ETag of the body: the same bytes have the same tag on every process. */
const etagOf = (body: Uint8Array | string) => `"${createHash('sha256').update(body).digest('base64url')}"`;

/**
 * If-None-Match holds the ETag (weak comparison, RFC 9110 §13.1.2). Evaluated whatever the request's
 * Cache-Control says: a fetch() that sets If-None-Match itself also sends Cache-Control: no-cache, which
 * asks caches to revalidate, not the origin to send the body again.
 */
function notModified(req: Request, etag: string): boolean {
  const header = req.headers['if-none-match'];
  if (!header) return false;
  if (header.trim() === '*') return true;
  return header.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag);
}

function sendCacheable(req: Request, res: Response, type: string, cacheControl: string, body: Buffer | string): void {
  const etag = etagOf(body);
  res.set('Cache-Control', cacheControl).set('ETag', etag);
  if (notModified(req, etag)) {
    res.status(304).end();
    return;
  }
  res.type(type).send(body);
}

const gzipAsync = promisify(gzip);

/**
 * An entry bundle, gzip-compressed for a client that accepts it (c2sp.org/tlog-tiles: entry bundles
 * SHOULD be compressed at the HTTP layer). Each encoding is its own representation with its own ETag.
 */
async function sendBundle(req: Request, res: Response, cacheControl: string, bundle: Buffer): Promise<void> {
  res.vary('Accept-Encoding');
  if (req.acceptsEncodings('gzip', 'identity') !== 'gzip') {
    sendCacheable(req, res, 'application/octet-stream', cacheControl, bundle);
    return;
  }
  const etag = `"${etagOf(bundle).slice(1, -1)}-gzip"`;
  res.set('Cache-Control', cacheControl).set('ETag', etag);
  if (notModified(req, etag)) {
    res.status(304).end();
    return;
  }
  res
    .set('Content-Encoding', 'gzip')
    .type('application/octet-stream')
    .send(await gzipAsync(bundle));
}

export function tlogRouter(deps: ApiDeps): Router {
  const router = express.Router();
  const publicLogs = deps.config.TLOG_PUBLIC_LOGS;

  /** 'public' when anyone may read the log's tiles; otherwise the caller must be allowed to read the log. */
  async function readAccess(req: Request, sourceAppId: string, field: string): Promise<'public' | 'private'> {
    if (isPublicLog(publicLogs, sourceAppId)) return 'public';
    const principal = await principalFrom(deps.auth, req.headers);
    authorize(principal, 'query', [field]);
    requireApp(principal, sourceAppId);
    return 'private';
  }

  router.use(TLOG_PREFIX, cors);
  router.use('/v1/events/:app/:seq/receipt', cors);

  router.get(`${TLOG_PREFIX}/:app/checkpoint`, async (req, res) => {
    const sourceAppId = parseSourceAppId(req.params.app);
    const access = await readAccess(req, sourceAppId, 'checkpoint');
    const note = await deps.service.tiles.checkpoint(sourceAppId);
    // Mutable: a client revalidates every time (c2sp.org/tlog-tiles: no caching beyond a few seconds).
    sendCacheable(req, res, 'text/plain; charset=utf-8', `${access}, no-cache`, note);
  });

  router.get(`${TLOG_PREFIX}/:app/tile/*path`, async (req, res) => {
    const sourceAppId = parseSourceAppId(req.params.app);
    const segments = (req.params as unknown as { path: string[] }).path;
    let tile;
    try {
      tile = parseTilePath(segments);
    } catch (err) {
      if (err instanceof TilePathError) throw badUserInput('path', 'tilePath', `path: ${err.message}`);
      throw err;
    }
    const access = await readAccess(req, sourceAppId, 'checkpoint');
    const { bytes } = await deps.service.tiles.read(sourceAppId, tile);
    const body = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
    // A partial tile of a given width is as immutable as a full one: its hashes are those of a tree
    // size some checkpoint committed to, and a wider tile has another path.
    const cacheControl = `${access}, ${IMMUTABLE}`;
    if (tile.level === 'entries') await sendBundle(req, res, cacheControl, body);
    else sendCacheable(req, res, 'application/octet-stream', cacheControl, body);
  });

  router.get('/v1/events/:app/:seq/receipt', async (req, res) => {
    const sourceAppId = parseSourceAppId(req.params.app);
    const seqText = req.params.seq;
    if (!/^(?:0|[1-9][0-9]{0,15})$/.test(seqText) || !Number.isSafeInteger(Number(seqText))) {
      throw badUserInput('seq', 'format', 'seq: must be a position in the log (a decimal integer without leading zeros)');
    }
    const seq = Number(seqText);
    const principal = await principalFrom(deps.auth, req.headers);
    authorize(principal, 'query', ['receipt']);
    requireApp(principal, sourceAppId);
    const event = await deps.service.getEvent(sourceAppId, seq);
    if (!event)
      throw new ApiError('NOT_FOUND', `log "${sourceAppId}" has no event at seq ${seq}`, { field: 'seq', rule: 'notFound' });
    const receipt = await receiptOf(deps.service, sourceAppId, seq);
    if (receipt.status === 'PENDING') {
      const retryAfterMs = deps.service.info.checkpointIntervalMs;
      res.set('Retry-After', String(Math.max(1, Math.ceil(retryAfterMs / 1000))));
      throw new ApiError(
        'NOT_FOUND',
        `event ${sourceAppId}/${seq} is logged but no checkpoint covers it yet; its receipt is ready after the log's next checkpoint`,
        { field: 'seq', rule: 'receiptPending', extra: { retryAfterMs } },
      );
    }
    // A receipt stays valid, but a newer one (against a later checkpoint) may replace it.
    sendCacheable(req, res, 'text/plain; charset=utf-8', 'private, no-cache', receipt.proof);
  });

  return router;
}
