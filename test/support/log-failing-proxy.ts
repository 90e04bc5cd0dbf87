// A real HTTP proxy in front of a real chainlog server that fails the reads of chosen logs, as a
// primary with one broken log (or a failing backend behind a load balancer) does: a GraphQL request
// about one of those logs (its `app` variable, or an event id `<log>/<seq>`) is answered HTTP 500
// without a JSON body; every other request goes through, and WebSocket upgrades (subscriptions) are
// piped through unchanged.
import type { IncomingMessage, Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { forward, wholeBodyServer } from './forward.js';

export interface LogFailingProxy {
  /** The server's URL through the proxy. */
  url: string;
  /** The logs whose requests are failed, from now on (empty: none). */
  readonly failing: Set<string>;
  close(): Promise<void>;
}

/** The log a GraphQL request body is about, or null. */
function logOf(body: string): string | null {
  let variables: unknown;
  try {
    variables = (JSON.parse(body) as { variables?: unknown }).variables;
  } catch {
    return null;
  }
  if (variables === null || typeof variables !== 'object') return null;
  const { app, id } = variables as { app?: unknown; id?: unknown };
  if (typeof app === 'string') return app;
  return typeof id === 'string' ? id.slice(0, id.lastIndexOf('/')) : null;
}

export async function startLogFailingProxy(upstream: string): Promise<LogFailingProxy> {
  const target = new URL(upstream);
  const failing = new Set<string>();
  const upgraded = new Set<Socket>();
  const server: Server = wholeBodyServer(async (req, res, body) => {
    const app = req.method === 'POST' && req.url === '/graphql' ? logOf(body.toString()) : null;
    if (app !== null && failing.has(app)) {
      res.writeHead(500, { 'content-type': 'text/plain' }).end('upstream failed');
      return;
    }
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
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    failing,
    async close() {
      for (const s of upgraded) s.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
