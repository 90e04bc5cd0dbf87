// The internal endpoint through which processes sharing a database hand appends to the holder of a
// log's lease (src/log/forwarding.ts), and the client that calls it. Only processes that know the
// shared PROCESS_SECRET may call it: the forwarding process has already authenticated and authorized
// the client (API keys, scopes, rate limits, validation), so the holder appends what it is given.
//
// Wire: POST <address>/internal/v1/append, `authorization: Bearer <PROCESS_SECRET>`, body
// `{ requests: AppendRequest[] }` (payloads as JSON). 200 `{ events: StoredEvent[], replayed: number[] }`
// (indexes of the events that are idempotent replays); 421 `{ error: { kind: 'elsewhere', address } }`
// when yet another process holds the log's lease (nothing appended); otherwise `{ error: { kind, ... } }` with the
// error's HTTP status, rebuilt by the client as the error the holder raised.
import { timingSafeEqual, createHash } from 'node:crypto';
import express, { type Router } from 'express';
import { z } from 'zod';
import { HeldElsewhereError } from '../log/commit-gate.js';
import { LogError, type LogErrorCode } from '../log/errors.js';
import { PeerNoAnswerError, PeerUnreachableError, type PeerTransport } from '../log/forwarding.js';
import { asReplay, isReplay } from '../log/replays.js';
import type { AppendRequest } from '../log/service.js';
import { AppendOutcomeUnknownError, StorageUnavailableError, type StoredEvent } from '../storage/types.js';
import { httpStatusFor } from './errors.js';

export const PEER_APPEND_PATH = '/internal/v1/append';

/** Bounds of a forwarded request: what the API's validation already enforced, with room to spare. */
const MAX_REQUESTS = 10_000;
const MAX_STRING = 4096;

const jsonObject = z.record(z.string(), z.unknown());
const requestSchema = z
  .object({
    sourceAppId: z.string().min(1).max(MAX_STRING),
    eventType: z.string().min(1).max(MAX_STRING),
    timestamp: z.number().finite(),
    payload: jsonObject,
    idempotencyKey: z.string().max(MAX_STRING).nullable().optional(),
    expectedPrevHash: z.string().max(MAX_STRING).nullable().optional(),
  })
  .strict();
const bodySchema = z.object({ requests: z.array(requestSchema).min(1).max(MAX_REQUESTS) }).strict();

type WireError =
  | { kind: 'log'; code: LogErrorCode; message: string; details: LogError['details']; extensions: Record<string, unknown> }
  | { kind: 'elsewhere'; message: string; sourceAppId: string; address: string }
  | { kind: 'outcomeUnknown' | 'storageUnavailable' | 'refused' | 'internal'; message: string };

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Whether an `authorization` header carries the secret (compared in constant time). */
function authorized(header: string | undefined, secretDigest: Buffer): boolean {
  if (!header?.startsWith('Bearer ')) return false;
  return timingSafeEqual(digest(header.slice('Bearer '.length)), secretDigest);
}

function toWire(err: unknown): { status: number; error: WireError } {
  if (err instanceof HeldElsewhereError) {
    return {
      status: 421,
      error: { kind: 'elsewhere', message: err.message, sourceAppId: err.sourceAppId, address: err.address },
    };
  }
  if (err instanceof LogError) {
    return {
      status: httpStatusFor(err.code),
      error: { kind: 'log', code: err.code, message: err.message, details: err.details, extensions: err.extensions },
    };
  }
  if (err instanceof AppendOutcomeUnknownError) return { status: 503, error: { kind: 'outcomeUnknown', message: err.message } };
  if (err instanceof StorageUnavailableError) return { status: 503, error: { kind: 'storageUnavailable', message: err.message } };
  return { status: 500, error: { kind: 'internal', message: err instanceof Error ? err.message : String(err) } };
}

/** The endpoint, appending with `append` (the service's appendHere: never forwarded again). */
export function peerAppendRouter(opts: {
  secret: string;
  maxBodyBytes: number;
  append: (requests: AppendRequest[]) => Promise<StoredEvent[]>;
}): Router {
  const secretDigest = digest(opts.secret);
  const router = express.Router();
  router.post(
    PEER_APPEND_PATH,
    (req, res, next) => {
      // Before the body is read: an unknown caller costs no parsing.
      if (authorized(req.headers.authorization, secretDigest)) return next();
      res
        .status(401)
        .json({ error: { kind: 'refused', message: 'this endpoint is for processes sharing the database (PROCESS_SECRET)' } });
    },
    express.json({ limit: opts.maxBodyBytes }),
    (req, res) => {
      const parsed = bodySchema.safeParse(req.body);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        res.status(400).json({
          error: { kind: 'refused', message: `body.${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}` },
        });
        return;
      }
      opts.append(parsed.data.requests as AppendRequest[]).then(
        (events) => {
          const replayed: number[] = [];
          events.forEach((e, i) => {
            if (isReplay(e)) replayed.push(i);
          });
          res.status(200).json({ events, replayed });
        },
        (err: unknown) => {
          const { status, error } = toWire(err);
          res.status(status).json({ error });
        },
      );
    },
  );
  return router;
}

/** Error codes of a connection that was never made: the request did not reach the process. */
const NOT_CONNECTED = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'UND_ERR_CONNECT_TIMEOUT',
]);

function causeCode(err: unknown): string | undefined {
  let at: unknown = err;
  for (let depth = 0; depth < 4 && at; depth++) {
    const code = (at as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    at = (at as { cause?: unknown }).cause;
  }
  return undefined;
}

function fromWire(address: string, status: number, body: unknown): Error {
  const error = (body as { error?: WireError } | null)?.error;
  if (!error || typeof error !== 'object' || typeof error.message !== 'string') {
    return new PeerNoAnswerError(`${address} answered HTTP ${status} without an error it names`, 'lost');
  }
  switch (error.kind) {
    case 'log':
      return new LogError(error.code, error.message, error.details ?? [], error.extensions ?? {});
    case 'elsewhere':
      return new HeldElsewhereError(String(error.sourceAppId), String(error.address));
    case 'outcomeUnknown':
      return new AppendOutcomeUnknownError(error.message);
    case 'storageUnavailable':
      return new StorageUnavailableError(error.message);
    case 'refused':
      // A wrong secret or a version without the endpoint: nothing was appended there.
      return new PeerUnreachableError(`${address} refused the forward (HTTP ${status}): ${error.message}`);
    default:
      return new Error(`the process at ${address} failed the append: ${error.message}`);
  }
}

/** The client side: forwards over HTTP with the shared secret, each forward bounded by `timeoutMs`. */
export function httpPeerTransport(opts: { secret: string; timeoutMs: number }): PeerTransport {
  const authorization = `Bearer ${opts.secret}`;
  return {
    async append(address, requests) {
      const body = JSON.stringify({
        requests: requests.map((r) => ({
          sourceAppId: r.sourceAppId,
          eventType: r.eventType,
          timestamp: r.timestamp,
          payload: r.payload,
          ...(r.idempotencyKey != null && { idempotencyKey: r.idempotencyKey }),
          ...(r.expectedPrevHash != null && { expectedPrevHash: r.expectedPrevHash }),
        })),
      });
      let res: Response;
      let text: string;
      try {
        res = await fetch(`${address}${PEER_APPEND_PATH}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization },
          body,
          signal: AbortSignal.timeout(opts.timeoutMs),
        });
        text = await res.text();
      } catch (err) {
        if ((err as Error).name === 'TimeoutError') {
          throw new PeerNoAnswerError(`${address} did not answer the forward within ${opts.timeoutMs} ms`, 'timeout');
        }
        const code = causeCode(err);
        if (code !== undefined && NOT_CONNECTED.has(code)) {
          throw new PeerUnreachableError(`${address} could not be reached (${code})`);
        }
        throw new PeerNoAnswerError(`${address} went away during the forward (${code ?? (err as Error).message})`, 'lost');
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        throw new PeerNoAnswerError(`${address} answered HTTP ${res.status} with a body that is not JSON`, 'lost');
      }
      if (res.status !== 200) throw fromWire(address, res.status, parsed);
      const { events, replayed } = parsed as { events: StoredEvent[]; replayed: number[] };
      const replays = new Set(replayed);
      return events.map((e, i) => (replays.has(i) ? asReplay(e) : e));
    },
  };
}
