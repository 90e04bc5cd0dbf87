// A test proxy's parts: a server that reads each request whole before handling it, and the pass-through
// that sends such a request on to the real server as it came.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

/** A server whose handler gets each request with its body read whole; a handler that throws answers 502. */
export function wholeBodyServer(handle: (req: IncomingMessage, res: ServerResponse, body: Buffer) => Promise<void>): Server {
  return createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      handle(req, res, Buffer.concat(chunks)).catch((err: unknown) => {
        if (!res.headersSent) res.writeHead(502);
        res.end(String(err));
      });
    });
  });
}

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
