// The scale demo's loopback load balancer: a log's requests always reach one backend, logs spread
// over all of them, and requests that name no log go round robin.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROUTE_HEADER, startLoadBalancer, type LoadBalancer } from '../../scripts/scale/load-balancer.js';

const backends: Server[] = [];
let lb: LoadBalancer;

beforeAll(async () => {
  for (let i = 0; i < 3; i++) {
    const server = createServer((_req, res) => res.end(String(i)));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    backends.push(server);
  }
  lb = await startLoadBalancer(backends.map((s) => `http://127.0.0.1:${(s.address() as AddressInfo).port}`));
});
afterAll(async () => {
  await lb?.close();
  for (const s of backends) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

const backendFor = async (log?: string) =>
  (await fetch(`${lb.url}/graphql`, { method: 'POST', headers: log ? { [ROUTE_HEADER]: log } : {}, body: '{}' })).text();

describe('scale load balancer', () => {
  it('sends every request of one log to the same backend, and spreads logs over all backends', async () => {
    const owners = new Map<string, string>();
    for (let i = 0; i < 30; i++) {
      const log = `log-${i}`;
      const first = await backendFor(log);
      for (let j = 0; j < 3; j++) expect(await backendFor(log)).toBe(first);
      owners.set(log, first);
    }
    expect(new Set(owners.values())).toEqual(new Set(['0', '1', '2']));
  });

  it('spreads requests without the header round robin', async () => {
    const seen = [];
    for (let i = 0; i < 6; i++) seen.push(await backendFor());
    expect(new Set(seen)).toEqual(new Set(['0', '1', '2']));
  });
});
