// A test proxy's pass-through: a request already read whole, sent on to the real server as it came.
import type { IncomingMessage } from 'node:http';

/** Sends `req` (its body read as `body`) to `upstream` with its own headers, and returns the answer. */
export function forward(upstream: string, req: IncomingMessage, body: Buffer): Promise<Response> {
  const headers = Object.fromEntries(
    Object.entries(req.headers).filter(([k]) => !['host', 'content-length', 'connection'].includes(k)),
  ) as Record<string, string>;
  return fetch(`${upstream}${req.url ?? '/'}`, {
    method: req.method,
    headers,
    body: req.method === 'GET' || req.method === 'HEAD' ? undefined : body,
  });
}
