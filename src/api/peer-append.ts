// The internal endpoint through which processes sharing a database hand appends to the holder of a
// log's lease (src/log/forwarding.ts), and the client that calls it. Only processes that know the
// shared PROCESS_SECRET may call it: the forwarding process has already authenticated and authorized
// the client (API keys, scopes, rate limits, validation), so the holder appends what it is given.
//
// Wire: POST <address>/internal/v1/append (HTTP/1.1), `authorization: Bearer <PROCESS_SECRET>`,
// `x-chainlog-sign-every-ms: <n>`, body `{ requests: AppendRequest[] }` (payloads as JSON). While the
// holder works on the append it answers `102 Processing` every n ms (bounded to 25-60,000), a sign of
// life the forwarding process waits on. 200 `{ events: StoredEvent[], replayed: number[] }`
// (indexes of the events that are idempotent replays); 421 `{ error: { kind: 'elsewhere', address } }`
// when yet another process holds the log's lease (nothing appended); otherwise `{ error: { kind, ... } }` with the
// error's HTTP status, rebuilt by the client as the error the holder raised.
import { timingSafeEqual, createHash } from 'node:crypto';
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
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
/**
 * The forwarding process asks, in this header, for a sign of life every so many ms while the holder
 * works on the append; the holder answers with an HTTP 102 Processing each time.
 */
export const SIGN_EVERY_HEADER = 'x-chainlog-sign-every-ms';
/** Bounds of the interval asked for, whatever a caller sends. */
const MIN_SIGN_EVERY_MS = 25;
const MAX_SIGN_EVERY_MS = 60_000;

/** The interval a forward asked for (bounded), or null when it asked for none. */
function signEvery(header: string | string[] | undefined): number | null {
  if (typeof header !== 'string' || !/^[0-9]{1,9}$/.test(header)) return null;
  return Math.min(MAX_SIGN_EVERY_MS, Math.max(MIN_SIGN_EVERY_MS, Number(header)));
}

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
      // Signs of life while the append is worked on: the forwarding process waits as long as they come.
      const every = signEvery(req.headers[SIGN_EVERY_HEADER]);
      const ticker =
        every === null
          ? undefined
          : setInterval(() => {
              if (!res.headersSent && !res.writableEnded && !res.destroyed) res.writeProcessing();
            }, every);
      res.once('close', () => clearInterval(ticker));
      opts.append(parsed.data.requests as AppendRequest[]).then(
        (events) => {
          clearInterval(ticker);
          const replayed: number[] = [];
          events.forEach((e, i) => {
            if (isReplay(e)) replayed.push(i);
          });
          res.status(200).json({ events, replayed });
        },
        (err: unknown) => {
          clearInterval(ticker);
          const { status, error } = toWire(err);
          res.status(status).json({ error });
        },
      );
    },
  );
  return router;
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

/**
 * The client side: forwards over HTTP/1.1 with the shared secret. The forward waits as long as the
 * holder keeps giving signs of life (it asks for one every quarter of `silenceMs`), at most
 * `timeoutMs` in all. Silence before the connection is made means the request never left: the holder
 * is unreachable, nothing was appended.
 */
export function httpPeerTransport(opts: { secret: string; silenceMs: number; timeoutMs: number }): PeerTransport {
  const authorization = `Bearer ${opts.secret}`;
  const every = String(Math.max(MIN_SIGN_EVERY_MS, Math.floor(opts.silenceMs / 4)));
  const agents = { http: new HttpAgent({ keepAlive: true }), https: new HttpsAgent({ keepAlive: true }) };
  return {
    append(address, requests, onSign) {
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
      let url: URL;
      try {
        url = new URL(`${address}${PEER_APPEND_PATH}`);
      } catch {
        return Promise.reject(new PeerUnreachableError(`${address} is not a URL`));
      }
      const tls = url.protocol === 'https:';
      const bodyBytes = Buffer.byteLength(body);
      // The answer is the request's events with their positions and hashes: a few times the request.
      const maxAnswerBytes = 4 * bodyBytes + 4 * 1024 * 1024;
      return new Promise<StoredEvent[]>((resolve, reject) => {
        let settled = false;
        /** Whether the request may have reached the holder (its connection was made). */
        let connected = false;
        let silence: NodeJS.Timeout | undefined;
        const finish = (outcome: () => void) => {
          if (settled) return;
          settled = true;
          clearTimeout(silence);
          clearTimeout(total);
          outcome();
        };
        const fail = (err: Error) => {
          finish(() => reject(err));
          req.destroy();
        };
        const heard = () => {
          clearTimeout(silence);
          silence = setTimeout(
            () =>
              fail(
                connected
                  ? new PeerNoAnswerError(`${address} gave no sign of working on the forward for ${opts.silenceMs} ms`, 'silent')
                  : new PeerUnreachableError(`${address} could not be reached within ${opts.silenceMs} ms`),
              ),
            opts.silenceMs,
          );
        };
        const total = setTimeout(
          () => fail(new PeerNoAnswerError(`${address} did not finish the forward within ${opts.timeoutMs} ms`, 'timeout')),
          opts.timeoutMs,
        );
        const req = (tls ? httpsRequest : httpRequest)(url, {
          method: 'POST',
          agent: tls ? agents.https : agents.http,
          headers: {
            'content-type': 'application/json',
            'content-length': String(bodyBytes),
            authorization,
            [SIGN_EVERY_HEADER]: every,
          },
        });
        req.on('socket', (socket) => {
          if (req.reusedSocket || !socket.connecting) connected = true;
          else socket.once(tls ? 'secureConnect' : 'connect', () => (connected = true));
        });
        // 1xx answers (102 Processing): the holder is alive and working on the append.
        req.on('information', () => {
          onSign?.();
          heard();
        });
        req.on('error', (err) => {
          const code = (err as { code?: string }).code ?? err.message;
          fail(
            connected
              ? new PeerNoAnswerError(`${address} went away during the forward (${code})`, 'lost')
              : new PeerUnreachableError(`${address} could not be reached (${code})`),
          );
        });
        req.on('response', (res) => {
          heard();
          const chunks: Buffer[] = [];
          let bytes = 0;
          res.on('data', (chunk: Buffer) => {
            bytes += chunk.length;
            if (bytes > maxAnswerBytes) {
              fail(new PeerNoAnswerError(`${address} answered more than ${maxAnswerBytes} bytes`, 'lost'));
              return;
            }
            chunks.push(chunk);
            heard();
          });
          res.on('error', (err) =>
            fail(new PeerNoAnswerError(`${address} went away during its answer (${err.message})`, 'lost')),
          );
          res.on('end', () =>
            finish(() => {
              try {
                resolve(answered(address, res.statusCode ?? 0, Buffer.concat(chunks).toString('utf8')));
              } catch (err) {
                reject(err instanceof Error ? err : new Error(String(err)));
              }
            }),
          );
        });
        heard();
        req.end(body);
      });
    },
  };
}

/** The events of a 200 answer, or the error the holder answered with. */
function answered(address: string, status: number, text: string): StoredEvent[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new PeerNoAnswerError(`${address} answered HTTP ${status} with a body that is not JSON`, 'lost');
  }
  if (status !== 200) throw fromWire(address, status, parsed);
  const { events, replayed } = parsed as { events: StoredEvent[]; replayed: number[] };
  const replays = new Set(replayed);
  return events.map((e, i) => (replays.has(i) ? asReplay(e) : e));
}
