// The range proofs of an audit over REST (GET /v1/logs/<app>/range-proof, src/api/rest/range-proof.ts):
// the same answer as GraphQL's rangeProof, written by the server as one JSON document. The answer is
// untrusted: its body is read up to a bound in bytes (past it the answer is refused, not buffered), and
// its shape is checked field by field by hand (the same rules as queries.ts rangeProofSchema, without a
// zod object per event). Failures sort as GraphqlClient's do: ConnectionError (no answer), GraphqlError
// (the server answered with an error and its code), ResponseShapeError (a 2xx answer that is not a page).
import { isAscii } from 'node:buffer';
import http from 'node:http';
import https from 'node:https';
import { ConnectionError, GraphqlError, ResponseShapeError } from './graphql-client.js';
import type { RangePage, ServedEvent, ServedNodeRun } from './range-page.js';

/**
 * The most bytes of one answer the auditor reads: the server's own bound (GRAPHQL_MAX_RESPONSE_BYTES,
 * 64 MiB by default, on the whole document) with room for a server configured higher.
 */
export const MAX_RANGE_RESPONSE_BYTES = 128 * 1024 * 1024;

export interface RangeClientOptions {
  /** Service base URL. */
  url: string;
  apiKey?: string | undefined;
  timeoutMs?: number;
  /** Default MAX_RANGE_RESPONSE_BYTES. */
  maxBytes?: number;
}

/** The server has no such route (an older server): the audit asks GraphQL instead. */
export const NO_ROUTE = Symbol('no range-proof route');

export class RangeClient {
  private readonly base: URL;
  private readonly agent: http.Agent;
  private readonly get: typeof http.get;
  private readonly headers: Record<string, string>;
  private readonly timeoutMs: number;
  private readonly maxBytes: number;

  constructor(o: RangeClientOptions) {
    this.base = new URL(o.url.endsWith('/') ? o.url : `${o.url}/`);
    const secure = this.base.protocol === 'https:';
    // Keep-alive: one connection carries every page (the next request is sent while a page is verified).
    this.agent = secure
      ? new https.Agent({ keepAlive: true, maxSockets: 4 })
      : new http.Agent({ keepAlive: true, maxSockets: 4 });
    this.get = secure ? https.get : http.get;
    this.headers = { accept: 'application/json', ...(o.apiKey ? { 'x-api-key': o.apiKey } : {}) };
    this.timeoutMs = o.timeoutMs ?? 30_000;
    this.maxBytes = o.maxBytes ?? MAX_RANGE_RESPONSE_BYTES;
  }

  close(): void {
    this.agent.destroy();
  }

  /**
   * The events [start, end) of `app` with their range proof in the tree of `treeSize`, and the stored tree
   * nodes they complete (nodes=true: the answer must carry them), shape-checked.
   */
  async rangeProof(app: string, start: number, end: number, treeSize: number): Promise<RangePage | typeof NO_ROUTE> {
    const url = new URL(`v1/logs/${encodeURIComponent(app)}/range-proof`, this.base);
    url.search = `start=${start}&end=${end}&treeSize=${treeSize}&nodes=true`;
    const { status, text } = await this.fetch(url);
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      if (status >= 200 && status < 300) throw new ResponseShapeError(`${url.pathname} answered HTTP ${status} with no JSON`);
      throw new ConnectionError(`${url.pathname} answered HTTP ${status} without a JSON result: ${text.slice(0, 200)}`);
    }
    if (status < 200 || status >= 300) {
      const first = (body as { errors?: unknown } | null)?.errors;
      const e = Array.isArray(first) ? (first[0] as Record<string, unknown> | undefined) : undefined;
      if (!e || typeof e.message !== 'string')
        throw new ConnectionError(`${url.pathname} answered HTTP ${status} without an error`);
      const code = typeof e.code === 'string' ? e.code : null;
      const rule = typeof e.rule === 'string' ? e.rule : null;
      if (status === 404 && code === 'NOT_FOUND' && rule === 'route') return NO_ROUTE;
      throw new GraphqlError(e.message, code, rule);
    }
    return checkPage(body);
  }

  /** One GET, its body read up to maxBytes (a longer answer is cut off and refused). */
  private fetch(url: URL): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
      const req = this.get(url, { agent: this.agent, headers: this.headers, timeout: this.timeoutMs }, (res) => {
        const status = res.statusCode ?? 0;
        const declared = Number(res.headers['content-length']);
        if (Number.isFinite(declared) && declared > this.maxBytes) {
          req.destroy();
          reject(
            new ResponseShapeError(
              `${url.pathname} answered ${declared} bytes, more than the ${this.maxBytes} an answer may have`,
            ),
          );
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > this.maxBytes) {
            // The connection goes with it: it holds the rest of an answer no one reads.
            req.destroy();
            reject(new ResponseShapeError(`${url.pathname} answered more than the ${this.maxBytes} bytes an answer may have`));
            return;
          }
          chunks.push(c);
        });
        res.on('end', () => {
          const body = Buffer.concat(chunks, size);
          // A page of ASCII text (the common one) is its own Latin-1, which decodes without UTF-8's checks.
          resolve({ status, text: isAscii(body) ? body.toString('latin1') : body.toString('utf8') });
        });
        res.on('error', (err) => reject(new ConnectionError(`${url.pathname}: the answer broke off: ${err.message}`)));
        res.on('aborted', () => reject(new ConnectionError(`${url.pathname}: the answer broke off`)));
      });
      req.on('timeout', () => req.destroy(new Error(`no answer within ${this.timeoutMs} ms`)));
      req.on('error', (err) => reject(new ConnectionError(`cannot reach ${url.origin}: ${err.message}`)));
    });
  }
}

class Shape extends ResponseShapeError {
  constructor(path: string, rule: string) {
    super(`unexpected response shape at rangeProof.${path}: ${rule}`);
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function num(o: Record<string, unknown>, key: string, path: string): number {
  const v = o[key];
  if (typeof v !== 'number') throw new Shape(`${path}${key}`, 'expected number');
  return v;
}

function str(o: Record<string, unknown>, key: string, path: string): string {
  const v = o[key];
  if (typeof v !== 'string') throw new Shape(`${path}${key}`, 'expected string');
  return v;
}

/** A string, null or absent (zod's nullish). */
function nullishStr(o: Record<string, unknown>, key: string, path: string): void {
  const v = o[key];
  if (v !== undefined && v !== null && typeof v !== 'string') throw new Shape(`${path}${key}`, 'expected string or null');
}

/** RangePage.nodes: runs of a level, a first index and hashes (a string, or null where a node is not stored). */
function nodeRuns(o: Record<string, unknown>): ServedNodeRun[] {
  const v = o.nodes;
  if (!Array.isArray(v)) throw new Shape('nodes', 'expected array (the answer to nodes=true)');
  for (let i = 0; i < v.length; i++) {
    const run: unknown = v[i];
    if (!isObject(run)) throw new Shape(`nodes.${i}`, 'expected object');
    num(run, 'level', `nodes.${i}.`);
    num(run, 'index', `nodes.${i}.`);
    const hashes = run.hashes;
    if (!Array.isArray(hashes)) throw new Shape(`nodes.${i}.hashes`, 'expected array');
    for (let j = 0; j < hashes.length; j++)
      if (hashes[j] !== null && typeof hashes[j] !== 'string')
        throw new Shape(`nodes.${i}.hashes.${j}`, 'expected string or null');
  }
  return v as ServedNodeRun[];
}

function strings(o: Record<string, unknown>, key: string): string[] {
  const v = o[key];
  if (!Array.isArray(v)) throw new Shape(key, 'expected array');
  for (let i = 0; i < v.length; i++) if (typeof v[i] !== 'string') throw new Shape(`${key}.${i}`, 'expected string');
  return v as string[];
}

/** The page's shape, as rangeProofSchema allows it: the values themselves are checked by verifyRangePage. */
export function checkPage(body: unknown): RangePage {
  if (!isObject(body)) throw new Shape('', 'expected object');
  const events = body.events;
  if (!Array.isArray(events)) throw new Shape('events', 'expected array');
  for (let i = 0; i < events.length; i++) {
    const e: unknown = events[i];
    const path = `events.${i}.`;
    if (!isObject(e)) throw new Shape(`events.${i}`, 'expected object');
    str(e, 'sourceAppId', path);
    num(e, 'seq', path);
    str(e, 'eventType', path);
    str(e, 'timestamp', path);
    str(e, 'receivedAt', path);
    str(e, 'prevHash', path);
    str(e, 'hash', path);
    nullishStr(e, 'payloadHash', path);
    nullishStr(e, 'payloadSalt', path);
    nullishStr(e, 'erasedAt', path);
  }
  return {
    start: num(body, 'start', ''),
    end: num(body, 'end', ''),
    treeSize: num(body, 'treeSize', ''),
    leftHashes: strings(body, 'leftHashes'),
    rightHashes: strings(body, 'rightHashes'),
    nodes: nodeRuns(body),
    events: events as ServedEvent[],
  };
}
