// The pieces shared by the routes served on Node's `request` event before Express (POST /v1/events in
// src/api/rest/lean-events.ts, POST /graphql in src/api/graphql/lean-graphql.ts): which requests they
// take, how they read a body whose length is known, and how they answer JSON.
//
// A lean route takes only requests whose every header is the common case: POST to exactly its path (no
// query), Content-Type application/json (charset absent or utf-8), a Content-Length from 1 byte up to the
// route's bound, and no Transfer-Encoding nor Content-Encoding. Anything else goes to Express untouched
// (nothing of it is read), so every refusal a header can cause keeps its one implementation there.
import type { IncomingMessage, ServerResponse } from 'node:http';

/** application/json, with no parameter but a UTF-8 charset (what body-parser and requireUtf8 both accept as is). */
const PLAIN_JSON = /^application\/json[\t ]*(?:;[\t ]*charset[\t ]*=[\t ]*(?:utf-8|"utf-8")[\t ]*)?$/i;

/** Serves `req` and returns true when it is a request the lean route takes; false (nothing read) otherwise. */
export type LeanRoute = (req: IncomingMessage, res: ServerResponse) => boolean;

/** Whether the request line and headers are the common case a lean route at `path` serves (the Host is checked apart). */
export function leanTakes(req: Pick<IncomingMessage, 'method' | 'url' | 'headers'>, path: string, maxBodyBytes: number): boolean {
  if (req.method !== 'POST' || req.url !== path) return false;
  const h = req.headers;
  if (h['transfer-encoding'] !== undefined || h['content-encoding'] !== undefined) return false;
  const type = h['content-type'];
  if (type === undefined || !PLAIN_JSON.test(type)) return false;
  const length = Number(h['content-length']);
  return length >= 1 && length <= maxBodyBytes;
}

/** The whole body (its length is bounded by the Content-Length checked before), or null if the request was aborted. */
export function readBody(req: IncomingMessage): Promise<Buffer | null> {
  return new Promise((resolve) => {
    // Gone while the route was authenticating: its 'close' has already been emitted.
    if (req.destroyed) return resolve(null);
    const chunks: Buffer[] = [];
    let settled = false;
    const done = (value: Buffer | null) => {
      if (settled) return;
      settled = true;
      resolve(value);
    };
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => done(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    req.on('error', () => done(null));
    // After 'end' when the body was read whole; before it when the client went away.
    req.on('close', () => done(null));
  });
}

/** As Express's res.json sends it: JSON text, `application/json; charset=utf-8`, its Content-Length. */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  sendText(res, status, 'application/json; charset=utf-8', JSON.stringify(body));
}

/** As Express's res.send sends a string: the given type, its Content-Length. */
export function sendText(res: ServerResponse, status: number, contentType: string, text: string): void {
  res.statusCode = status;
  res.setHeader('Content-Type', contentType);
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.end(text);
}
