// A small HTTP load balancer on loopback, with WebSocket upgrades, for the scaling demo. Requests
// that name their log in the x-chainlog-log header go to the backend that log hashes to, so each
// log's appends reach one process and its per-log lease stays put; others go round robin.
// Not for production (the compose file uses nginx, routing the same way): it exists so the demo
// needs nothing installed.
import { request as httpRequest, createServer, Agent, type Server } from 'node:http';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { LOG_ROUTE_HEADER } from '../../src/simulator/transport.js';

/** The header by which clients name the one log a request writes to. */
export const ROUTE_HEADER = LOG_ROUTE_HEADER;

/** FNV-1a: a stable, well-spread hash of the log id. */
function hash(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

export interface LoadBalancer {
  url: string;
  close(): Promise<void>;
}

export async function startLoadBalancer(backends: string[], port = 0): Promise<LoadBalancer> {
  if (backends.length === 0) throw new Error('a load balancer needs at least one backend');
  const targets = backends.map((b) => new URL(b));
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  let next = 0;
  const pick = (req: { headers: Record<string, string | string[] | undefined> }) => {
    const log = req.headers[ROUTE_HEADER];
    if (typeof log === 'string' && log !== '') return targets[hash(log) % targets.length]!;
    return targets[next++ % targets.length]!;
  };

  const server: Server = createServer((req, res) => {
    const target = pick(req);
    const upstream = httpRequest(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers, agent },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on('error', () => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ message: 'backend unavailable' }] }));
    });
    req.pipe(upstream);
  });

  // WebSocket (graphql-ws): replay the upgrade request to a backend and splice the two sockets.
  server.on('upgrade', (req, socket, head) => {
    const target = pick(req);
    const upstream = connect(Number(target.port), target.hostname, () => {
      const lines = [`${req.method} ${req.url} HTTP/${req.httpVersion}`];
      for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
      upstream.write(`${lines.join('\r\n')}\r\n\r\n`);
      if (head.length > 0) upstream.write(head);
      upstream.pipe(socket);
      socket.pipe(upstream);
    });
    const end = () => {
      upstream.destroy();
      socket.destroy();
    };
    upstream.on('error', end);
    socket.on('error', end);
  });

  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const { port: bound } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${bound}`,
    close: () =>
      new Promise<void>((resolve) => {
        agent.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
