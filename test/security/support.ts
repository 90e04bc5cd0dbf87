// Helpers of the adversarial suite: raw sockets with chosen headers, metrics, and the "is the server still
// answering?" probe every attack runs beside it.
import { request } from 'node:http';
import WebSocket from 'ws';
import type { RunningService } from '../support/service.js';

/** Opens a graphql-transport-ws socket with the given headers; resolves once open or with the refusal status. */
export function upgrade(
  svc: RunningService,
  headers: Record<string, string> = {},
): Promise<{ socket?: WebSocket; status?: number }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`${svc.url.replace(/^http/, 'ws')}/graphql`, 'graphql-transport-ws', { headers });
    socket.once('open', () => resolve({ socket }));
    socket.once('unexpected-response', (_req, res) => {
      resolve({ status: res.statusCode! });
      res.resume();
    });
    socket.once('error', reject);
  });
}

/** A plain HTTP request with a Host header of our choosing (fetch would send the URL's). */
export function rawRequest(
  svc: RunningService,
  opts: { method?: string; path: string; headers?: Record<string, string>; body?: string },
): Promise<{ status: number; body: string }> {
  const url = new URL(svc.url);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: url.hostname, port: url.port, method: opts.method ?? 'GET', path: opts.path, headers: opts.headers },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      },
    );
    req.once('error', reject);
    req.end(opts.body);
  });
}

export { metric } from '../support/metrics.js';

/**
 * Runs `attack` while a trivial query is asked again and again on another connection; returns what the
 * attack returned and the slowest trivial answer. The bound is that every trivial answer comes back
 * (200, no errors) while the attack runs, and none waits as long as the unbounded attack used to cost.
 */
export async function whileAttacking<T>(
  svc: RunningService,
  attack: () => Promise<T>,
): Promise<{ result: T; slowestMs: number; answers: number }> {
  let done = false;
  let slowestMs = 0;
  let answers = 0;
  const probe = (async () => {
    while (!done) {
      const started = performance.now();
      const res = await svc.gql('{ serverInfo { version } }');
      if (res.status !== 200 || res.errors) throw new Error(`trivial query failed during the attack: ${JSON.stringify(res)}`);
      slowestMs = Math.max(slowestMs, performance.now() - started);
      answers++;
    }
  })();
  try {
    const result = await attack();
    return { result, slowestMs, answers };
  } finally {
    done = true;
    await probe;
  }
}
