// A real HTTP proxy in front of a real chainlog server that fails the reads of chosen logs, as a
// primary with one broken log (or a failing backend behind a load balancer) does: a GraphQL request
// about one of those logs (its `app` variable, or an event id `<log>/<seq>`), or one a predicate picks
// (a page of a log), is answered HTTP 500 without a JSON body; every other request goes through, and
// WebSocket upgrades (subscriptions) are piped through unchanged.
import type { IncomingMessage, Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { writeEndless } from './endless-answer.js';
import { forward, wholeBodyServer } from './forward.js';

export interface LogFailingProxy {
  /** The server's URL through the proxy. */
  url: string;
  /** The logs whose requests are failed, from now on (empty: none). */
  readonly failing: Set<string>;
  /** Fails, besides every request about a log of `failing`, each request about a log this holds for (null: none). */
  failWhen: ((request: LogRequest) => boolean) | null;
  /**
   * The logs whose requests are answered HTTP 200 with a JSON body that never ends (spaces after
   * `{"data":`, written as fast as the client reads, until it closes the connection).
   */
  readonly endless: Set<string>;
  /** The bytes of each endless answer sent so far, in the order they began. */
  readonly endlessSent: ReadonlyArray<{ readonly bytes: number }>;
  /** The requests about a log that went through to the server, in the order they came. */
  readonly passed: LogRequest[];
  close(): Promise<void>;
}

/** A GraphQL request about one log: the log, and the request's variables. */
export interface LogRequest {
  app: string;
  variables: Record<string, unknown>;
}

/** The log a GraphQL request body is about (with its variables), or null. */
function logOf(body: string): LogRequest | null {
  let variables: unknown;
  try {
    variables = (JSON.parse(body) as { variables?: unknown }).variables;
  } catch {
    return null;
  }
  if (variables === null || typeof variables !== 'object') return null;
  const vars = variables as Record<string, unknown>;
  const { app, id } = vars;
  if (typeof app === 'string') return { app, variables: vars };
  return typeof id === 'string' ? { app: id.slice(0, id.lastIndexOf('/')), variables: vars } : null;
}

export async function startLogFailingProxy(upstream: string): Promise<LogFailingProxy> {
  const target = new URL(upstream);
  const upgraded = new Set<Socket>();
  const proxy = {
    failing: new Set<string>(),
    failWhen: null as LogFailingProxy['failWhen'],
    passed: [] as LogRequest[],
    endless: new Set<string>(),
    endlessSent: [] as Array<{ bytes: number }>,
  };
  const server: Server = wholeBodyServer(async (req, res, body) => {
    const about = req.method === 'POST' && req.url === '/graphql' ? logOf(body.toString()) : null;
    if (about !== null && proxy.endless.has(about.app)) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"data":');
      proxy.endlessSent.push(writeEndless(res));
      return;
    }
    if (about !== null && (proxy.failing.has(about.app) || proxy.failWhen?.(about))) {
      res.writeHead(500, { 'content-type': 'text/plain' }).end('upstream failed');
      return;
    }
    if (about !== null) proxy.passed.push(about);
    const up = await forward(upstream, req, body);
    const text = await up.text();
    res.writeHead(up.status, { 'content-type': up.headers.get('content-type') ?? 'application/json' }).end(text);
  });
  server.on('upgrade', (req: IncomingMessage, client: Socket, head: Buffer) => {
    const up = connect(Number(target.port), target.hostname);
    upgraded.add(client).add(up);
    const drop = () => {
      client.destroy();
      up.destroy();
      upgraded.delete(client);
      upgraded.delete(up);
    };
    client.on('error', drop).on('close', drop);
    up.on('error', drop).on('close', drop);
    const lines = [`${req.method} ${req.url} HTTP/${req.httpVersion}`];
    for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
    up.write(`${lines.join('\r\n')}\r\n\r\n`);
    up.write(head);
    client.pipe(up).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return Object.assign(proxy, {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async close() {
      for (const s of upgraded) s.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  });
}
