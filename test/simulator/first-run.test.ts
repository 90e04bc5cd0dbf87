// The simulator as a newcomer runs it (a child process against the real service): a key that does not
// cover the run's apps is explained before anything is sent; the tour's writer key works with the
// defaults; a service that goes away is not hammered (the run backs off and stops, in bounded requests).
import { execFile } from 'node:child_process';
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROFILES } from '../../src/simulator/dictionary.js';
import { freePort, REPO_ROOT } from '../support/service-process.js';
import { startService, type RunningService } from '../support/service.js';
import { until } from '../support/wait.js';

/** The apps a default run (--apps 5) writes, which the README tour's writer key names. */
const DEFAULT_APPS = PROFILES.slice(0, 5).map((p) => p.app);

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

function simulate(url: string, key: string | null, args: string[]): Promise<Run> {
  const started = Date.now();
  const { CHAINLOG_API_KEY: _k, ...env } = process.env;
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'scripts/simulate.ts', '--url', url, '--json', ...args],
      { cwd: REPO_ROOT, timeout: 60_000, env: { ...env, ...(key && { CHAINLOG_API_KEY: key }) } },
      (err, stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr, ms: Date.now() - started }),
    );
  });
}

let svc: RunningService;
const keyFor = async (role: string, apps: string[] | null) => {
  const res = await svc.gql(`mutation($apps: [String!]) { createApiKey(role: ${role}, sourceAppIds: $apps) { secret } }`, {
    apps,
  });
  expect(res.errors).toBeUndefined();
  return res.data.createApiKey.secret as string;
};
const totalSize = async () => {
  const res = await svc.gql(`{ logs(first: 500) { edges { node { size } } } }`);
  expect(res.errors).toBeUndefined();
  return (res.data.logs.edges as Array<{ node: { size: number } }>).reduce((sum, e) => sum + e.node.size, 0);
};

beforeAll(async () => {
  svc = await startService();
});
afterAll(async () => svc?.stop());

describe('simulator preflight', () => {
  it('names the apps a writer key does not cover and how to fix it, and sends nothing', async () => {
    const key = await keyFor('WRITER', ['checkout']);
    const run = await simulate(svc.url, key, ['--count', '50']);
    expect(run.code, run.stderr).toBe(2);
    expect(run.stderr).toContain(
      `does not cover 4 of the 5 apps this run writes to: ${DEFAULT_APPS.slice(1).join(', ')} (it covers checkout)`,
    );
    expect(run.stderr).toContain('CHAINLOG_API_KEY');
    expect(run.stderr).toContain(`createApiKey(role: WRITER, sourceAppIds: [${DEFAULT_APPS.map((a) => `"${a}"`).join(', ')}]`);
    expect(run.stderr).toContain('--apps 1 (checkout)');
    expect(await totalSize()).toBe(0);
  });

  it('says a reader key may not write, and a missing key is needed', async () => {
    const reader = await simulate(svc.url, await keyFor('READER', null), ['--count', '10']);
    expect(reader.code).toBe(2);
    expect(reader.stderr).toContain('this API key may not write events');
    const none = await simulate(svc.url, null, ['--count', '10']);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('no API key given');
    expect(await totalSize()).toBe(0);
  });

  it('runs with the defaults and a writer key naming the default apps (the README tour key)', async () => {
    const key = await keyFor('WRITER', DEFAULT_APPS);
    const run = await simulate(svc.url, key, ['--count', '60', '--rate', '0']);
    expect(run.code, run.stderr).toBe(0);
    const summary = JSON.parse(run.stdout);
    expect(summary.apps).toEqual(DEFAULT_APPS);
    expect(summary.accepted).toBe(60);
    expect(await totalSize()).toBe(60);
  });

  it('exits 2 at once when nothing listens', async () => {
    const run = await simulate(`http://127.0.0.1:${await freePort()}`, null, ['--count', '10']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('cannot reach');
  });
});

describe('a service that goes away mid-run', () => {
  let proxy: Server;
  const sockets = new Set<Socket>();

  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => proxy?.close(r));
  });

  it('is not hammered: the run backs off and stops after a bounded number of failed requests', { timeout: 90_000 }, async () => {
    const upstream = await startService();
    const upstreamPort = Number(new URL(upstream.url).port);
    const key = await upstream.gql(
      `mutation { createApiKey(role: WRITER, sourceAppIds: ${JSON.stringify(DEFAULT_APPS)}) { secret } }`,
    );
    // A TCP proxy that counts connections: after the upstream is gone, every request is a new connection.
    let connections = 0;
    let upstreamStopped = false;
    let connectionsAfterStop = 0;
    let accepted = 0;
    proxy = createServer((client) => {
      connections++;
      if (upstreamStopped) connectionsAfterStop++;
      sockets.add(client);
      const server = connect(upstreamPort, '127.0.0.1');
      sockets.add(server);
      client.pipe(server).pipe(client);
      const end = () => {
        client.destroy();
        server.destroy();
      };
      client.on('error', end).on('close', end);
      server.on('error', end).on('close', end);
      server.on('data', () => accepted++);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;

    const running = simulate(proxyUrl, key.data.createApiKey.secret, ['--duration', '60', '--rate', '0', '--concurrency', '4']);
    // Running once answers flow back through the proxy; then the service stops for good.
    await until('20 answers through the proxy', () => accepted >= 20, { timeoutMs: 30_000 });
    await upstream.stop();
    upstreamStopped = true;
    const stoppedAt = Date.now();

    const run = await running;
    expect(run.code, run.stderr).toBe(2);
    expect(run.stderr).toContain('failed 8 requests in a row');
    // 8 failures in a row, plus what the other 3 workers had in flight; a hammering client makes thousands.
    expect(connectionsAfterStop).toBeLessThanOrEqual(8 + 4);
    expect(Date.now() - stoppedAt).toBeLessThan(20_000);
    const summary = JSON.parse(run.stdout);
    expect(summary.stoppedEarly).toContain('stopped');
    expect(connections).toBeGreaterThan(0);
  });
});
