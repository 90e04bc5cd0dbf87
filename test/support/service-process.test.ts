// The spawner's readiness: an answer on the port counts only when it is the child's. freePort hands a port
// that nothing listens on at that moment, and another suite's service may take it before the child listens;
// a CI run once audited that other service's log (same origin, another key) in place of its own.
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { listensOn } from '../../bench/port-owner.js';
import { freePort, PortInUseError, ServiceProcess, startOnFreePort } from './service-process.js';

/** Another process's stand-in: answers /healthz 200 on `port`, as a ready service does. */
async function impostor(port: number): Promise<Server> {
  const server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}'));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return server;
}

describe('ServiceProcess.start', () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  const dataDir = () => {
    const dir = mkdtempSync(join(tmpdir(), 'chainlog-spawner-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    return dir;
  };

  it('is not ready on another process answering its port: it fails with PortInUseError', async () => {
    const port = await freePort();
    const other = await impostor(port);
    cleanups.push(() => new Promise<void>((r) => other.close(() => r())));
    const proc = new ServiceProcess(port, dataDir(), { AUTH: 'off' });
    cleanups.push(() => proc.kill());
    const err = await proc.start().then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(PortInUseError);
    expect((err as PortInUseError).port).toBe(port);
    expect(proc.running).toBe(false);
  }, 90_000);

  it('startOnFreePort starts again on another port when the first is taken, and the child is what answers', async () => {
    const taken = await freePort();
    const other = await impostor(taken);
    cleanups.push(() => new Promise<void>((r) => other.close(() => r())));
    const dir = dataDir();
    const ports: number[] = [];
    const proc = await startOnFreePort((port) => {
      ports.push(ports.length === 0 ? taken : port);
      return new ServiceProcess(ports.at(-1)!, dir, { AUTH: 'off' });
    });
    cleanups.push(() => proc.stop());
    expect(ports).toHaveLength(2);
    expect(ports[0]).toBe(taken);
    expect(proc.port).toBe(ports[1]);
    expect(proc.port).not.toBe(taken);
    expect(proc.running).toBe(true);
    const health = await fetch(`${proc.url}/healthz`);
    expect(health.status).toBe(200);
  }, 120_000);
});

describe('listensOn', () => {
  it('tells this process listening on a port from another process and from no listener', async () => {
    const server = await impostor(0);
    const { port } = server.address() as { port: number };
    try {
      expect(await listensOn(process.pid, port)).toBe(true);
      expect(await listensOn(process.ppid, port)).toBe(false);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
    expect(await listensOn(process.pid, port)).toBe(false);
  });

  it('with group, finds the listener among the children of a command started detached', async () => {
    const port = await freePort();
    const listen = `require('node:http').createServer().listen(${port}, '127.0.0.1', () => console.log('listening'))`;
    // A shell that waits for its node child, as `npm start` waits for the service.
    const sh = spawn('sh', ['-c', `${JSON.stringify(process.execPath)} -e ${JSON.stringify(listen)}; true`], {
      detached: true,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      await new Promise<void>((resolve, reject) => {
        sh.stdout.on('data', (d: Buffer) => d.toString().includes('listening') && resolve());
        sh.once('exit', () => reject(new Error('the command exited before its child listened')));
      });
      expect(await listensOn(sh.pid!, port)).toBe(false);
      expect(await listensOn(sh.pid!, port, { group: true })).toBe(true);
    } finally {
      const exited = new Promise((r) => sh.once('exit', r));
      process.kill(-sh.pid!, 'SIGTERM');
      await exited;
    }
  });
});
