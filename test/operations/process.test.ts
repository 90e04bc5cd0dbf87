// The service as an operator runs it: started exactly as the README (`npm start`) and the Dockerfile
// (its CMD) start it, stopped by the signal a supervisor sends, one process per SQLite DATA_DIR, and
// the first screen on a terminal. Every check is on real processes, ports and output.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { openStorage } from '../../src/storage/open.js';
import { listensOn } from '../../bench/port-owner.js';
import { freshDbName, startMongoTestServer } from '../support/mongo-test-server.js';
import { freePort, REPO_ROOT, ServiceProcess } from '../support/service-process.js';
import { until } from '../support/wait.js';

const E2E_KEY = 'clk_operations-test-admin-key-0123456789';

interface Started {
  child: ChildProcess;
  port: number;
  dataDir: string;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const children: ChildProcess[] = [];
afterEach(() => {
  // A failed test must not leave a server behind: kill whatever is left of each process group.
  for (const c of children.splice(0)) {
    try {
      process.kill(-c.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

/** Spawns `command` in a process group of its own (as a supervisor or a terminal would) and waits for /healthz. */
async function startAs(command: string, args: string[], env: Record<string, string> = {}): Promise<Started> {
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'chainlog-ops-'));
  const { MONGODB_URI: _u, ...inherited } = process.env;
  const child = spawn(command, args, {
    cwd: REPO_ROOT,
    env: {
      ...inherited,
      PORT: String(port),
      HOST: '127.0.0.1',
      DATA_DIR: dataDir,
      ADMIN_API_KEY: E2E_KEY,
      LOG_FORMAT: 'json',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  children.push(child);
  let log = '';
  child.stdout.on('data', (d) => (log += d));
  child.stderr.on('data', (d) => (log += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`exited before ready:\n${log}`);
    const ok = await fetch(`http://127.0.0.1:${port}/healthz`).then(
      (r) => r.ok,
      () => false,
    );
    // The answer must come from the command's own processes: another suite may hold the port freePort gave.
    if (ok && (await listensOn(child.pid!, port, { group: true }))) break;
    if (Date.now() > deadline) throw new Error(`not ready:\n${log}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { child, port, dataDir, output: () => log, exited };
}

/** Pids of the process group (the command and everything it started). */
function groupPids(pgid: number): number[] {
  try {
    return execFileSync('ps', ['-o', 'pid=', '-g', String(pgid)], { encoding: 'utf8' })
      .split('\n')
      .map((s) => Number(s.trim()))
      .filter((n) => n > 0);
  } catch {
    return []; // ps exits 1 when nothing matches
  }
}

/**
 * Opens a request that stays in flight: its headers are in (`Expect: 100-continue` makes the server say
 * so) and its body never completes, so the HTTP drain waits for it until the socket is destroyed.
 */
async function stuckRequest(port: number): Promise<Socket> {
  const stuck = connect(port, '127.0.0.1');
  await new Promise<void>((r) => stuck.once('connect', () => r()));
  stuck.on('error', () => {});
  const inFlight = new Promise<void>((r) => stuck.on('data', (d) => String(d).includes('100 Continue') && r()));
  stuck.write(
    `POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nx-api-key: ${E2E_KEY}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\nExpect: 100-continue\r\n\r\n`,
  );
  await inFlight;
  stuck.write('{"sourceAppId"');
  return stuck;
}

async function waitFor(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  await until(what, condition, { timeoutMs, intervalMs: 50 });
}

const portFree = (port: number) =>
  new Promise<boolean>((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });

/** The node arguments `npm start` runs (package.json: `exec node ...`), with no npm around them. */
function npmStartNodeArgs(): string[] {
  const start = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: { start: string } }).scripts
    .start;
  const m = /^exec node (.+)$/.exec(start);
  if (!m) throw new Error(`npm start does not exec node: ${start}`);
  return m[1]!.split(' ');
}

/** The Dockerfile's CMD (exec form), with `node` as this node binary. */
function dockerCmd(): string[] {
  const dockerfile = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8');
  const cmd = /^CMD\s+(\[.*\])\s*$/m.exec(dockerfile);
  if (!cmd) throw new Error('Dockerfile has no exec-form CMD');
  return JSON.parse(cmd[1]!) as string[];
}

describe('stopping on a signal, however the service is started', () => {
  // A supervisor signals the process it started (npm); Ctrl-C on a terminal signals the whole foreground
  // process group, so the service gets SIGINT twice: from the terminal and forwarded by npm.
  for (const [signal, target] of [
    ['SIGTERM', 'npm'],
    ['SIGINT', 'npm'],
    ['SIGINT', 'the process group (Ctrl-C)'],
  ] as const) {
    it(
      `\`npm start\` (README): ${signal} to ${target} stops the whole tree gracefully and frees the port`,
      { timeout: 90_000 },
      async () => {
        const s = await startAs('npm', ['start']);
        const pids = groupPids(s.child.pid!);
        expect(pids.length).toBeGreaterThanOrEqual(2); // npm and the service
        process.kill(target === 'npm' ? s.child.pid! : -s.child.pid!, signal);
        await s.exited;
        await waitFor('every process of the tree to exit', () => groupPids(s.child.pid!).length === 0);
        await waitFor('the port to be free', () => portFree(s.port));
        expect(s.output()).toContain('"msg":"shutting down"');
        expect(s.output()).toContain('"msg":"stopped"');
        expect(s.output()).not.toContain('second signal');
      },
    );
  }

  it('the Dockerfile CMD (docker-compose.yml): SIGTERM stops it gracefully, exit 0, port free', { timeout: 60_000 }, async () => {
    const [command, ...args] = dockerCmd();
    expect(command).toBe('node');
    const s = await startAs(process.execPath, args);
    process.kill(s.child.pid!, 'SIGTERM');
    expect(await s.exited).toEqual({ code: 0, signal: null });
    expect(groupPids(s.child.pid!)).toEqual([]);
    expect(await portFree(s.port)).toBe(true);
    expect(s.output()).toContain('"msg":"stopped"');
  });

  it('gives up draining after SHUTDOWN_TIMEOUT_MS when a request never finishes', { timeout: 60_000 }, async () => {
    const [, ...args] = dockerCmd();
    const s = await startAs(process.execPath, args, { SHUTDOWN_TIMEOUT_MS: '700' });
    const stuck = await stuckRequest(s.port);
    const sent = Date.now();
    process.kill(s.child.pid!, 'SIGTERM');
    const exit = await s.exited;
    const took = Date.now() - sent;
    stuck.destroy();
    expect(exit.code).toBe(1);
    expect(took).toBeGreaterThanOrEqual(600);
    expect(took).toBeLessThan(5_000);
    expect(s.output()).toContain('shutdown took longer than SHUTDOWN_TIMEOUT_MS (700 ms)');
    expect(await portFree(s.port)).toBe(true);
  });

  /** The service as the Dockerfile starts it, draining after `signal`: a request in flight holds the drain open. */
  async function drainingOn(signal: NodeJS.Signals): Promise<{ s: Started; stuck: Socket }> {
    const [, ...args] = dockerCmd();
    const s = await startAs(process.execPath, args, { SHUTDOWN_TIMEOUT_MS: '30000' });
    const stuck = await stuckRequest(s.port);
    process.kill(s.child.pid!, signal);
    await waitFor('the drain to start', () => s.output().includes('"msg":"shutting down"'));
    return { s, stuck };
  }

  // Ctrl-C under npm delivers SIGINT twice (the terminal's and npm's forward); the kernel merges the two
  // only when both are pending at once. The copy must not cut the drain short.
  it('a repeat of the signal within a second of the first does not cut the drain short', { timeout: 60_000 }, async () => {
    const { s, stuck } = await drainingOn('SIGINT');
    // The handler has run (it wrote that line): this SIGINT is delivered on its own, not merged.
    process.kill(s.child.pid!, 'SIGINT');
    await waitFor('the repeat to be handled', () => /already shutting down|second signal/.test(s.output()));
    stuck.destroy(); // the drain can now finish

    expect(await s.exited).toEqual({ code: 0, signal: null });
    expect(s.output()).toContain('"msg":"stopped"');
    expect(s.output()).not.toContain('second signal');
  });

  it('a second signal a second or more after the first exits at once, without the drain', { timeout: 60_000 }, async () => {
    const { s, stuck } = await drainingOn('SIGTERM');
    const drainStarted = Date.now();
    await waitFor('a second to pass', () => Date.now() - drainStarted > 1_100);
    const sent = Date.now();
    process.kill(s.child.pid!, 'SIGINT');
    const exit = await s.exited;
    stuck.destroy();
    expect(exit).toEqual({ code: 1, signal: null });
    expect(Date.now() - sent).toBeLessThan(5_000);
    expect(s.output()).toContain('second signal: exiting without waiting for the drain');
    expect(s.output()).not.toContain('"msg":"stopped"');
    expect(await portFree(s.port)).toBe(true);
  });
});

describe('a graceful stop publishes what it acknowledged', () => {
  for (const engine of ['sqlite', 'mongodb'] as const) {
    it(
      `${engine}: after SIGTERM, a checkpoint the stopping process signed covers every event it acknowledged`,
      { timeout: 120_000 },
      async () => {
        const mongo = engine === 'mongodb' ? await startMongoTestServer() : null;
        const dataDir = mkdtempSync(join(tmpdir(), 'chainlog-ops-stop-'));
        const env: Record<string, string> = {
          AUTH: 'off',
          // Nothing publishes a log's second checkpoint within ten minutes but the stop.
          CHECKPOINT_INTERVAL_MS: '600000',
          CHECKPOINT_MIN_GAP_MS: '600000',
          ...(mongo && { MONGODB_URI: mongo.uri, MONGODB_DB: freshDbName() }),
        };
        const server = new ServiceProcess(await freePort(), dataDir, env);
        try {
          await server.start();
          const append = async (n: number) => {
            const res = await fetch(`${server.url}/v1/events`, {
              method: 'POST',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify({
                sourceAppId: 'stopping',
                eventType: 'e',
                timestamp: '2026-12-04T00:00:00.000Z',
                payload: { n },
              }),
            });
            expect(res.status).toBe(201);
          };
          const checkpointSize = async () => {
            const res = await fetch(`${server.url}/tlog/stopping/checkpoint`);
            return res.status === 200 ? Number((await res.text()).split('\n')[1]) : null;
          };
          // The log's first checkpoint comes at once (no min gap before a first); the next would wait.
          await append(0);
          await until('the first checkpoint', async () => (await checkpointSize()) === 1);
          for (let n = 1; n < 4; n++) await append(n);
          expect(await checkpointSize()).toBe(1);
          await server.stop();
          expect(server.output()).not.toContain('last checkpoints before stopping not published');

          const config = loadConfig({
            DATA_DIR: dataDir,
            ...(mongo && { MONGODB_URI: env.MONGODB_URI, MONGODB_DB: env.MONGODB_DB }),
          });
          const { storage } = await openStorage(config);
          try {
            expect(await storage.getCheckpoint('stopping')).toMatchObject({ treeSize: 4 });
          } finally {
            await storage.close();
          }
        } finally {
          await server.kill();
          await mongo?.stop();
        }
      },
    );
  }
});

describe('one process per SQLite DATA_DIR', () => {
  it(
    'a second process on the same DATA_DIR exits non-zero saying so; after the first is killed, a new one starts',
    { timeout: 90_000 },
    async () => {
      const dataDir = mkdtempSync(join(tmpdir(), 'chainlog-ops-lock-'));
      const first = new ServiceProcess(await freePort(), dataDir, { AUTH: 'off' });
      await first.start();
      const second = new ServiceProcess(await freePort(), dataDir, { AUTH: 'off' });
      try {
        await expect(second.start()).rejects.toThrow(/chainlog exited \(1\) before it was ready/);
        expect(second.output()).toContain(`DATA_DIR ${dataDir} is in use by another chainlog process`);
        expect(second.output()).toMatch(/another chainlog process \(pid \d+\)/);
        // SIGKILL: no shutdown hook releases anything; the lock goes with the process.
        await first.kill();
        const third = new ServiceProcess(await freePort(), dataDir, { AUTH: 'off' });
        await third.start();
        await third.stop();
      } finally {
        await first.kill();
      }
    },
  );
});

describe('processes sharing a MongoDB database', () => {
  it(
    'may share one DATA_DIR (it then holds only the keys, as in docker-compose.yml): no lock is taken',
    { timeout: 120_000 },
    async () => {
      const mongo = await startMongoTestServer();
      const dataDir = mkdtempSync(join(tmpdir(), 'chainlog-ops-shared-'));
      const env = { AUTH: 'off', MONGODB_URI: mongo.uri, MONGODB_DB: freshDbName(), LEASE_TTL_MS: '2000' };
      const a = new ServiceProcess(await freePort(), dataDir, env);
      const b = new ServiceProcess(await freePort(), dataDir, env);
      try {
        await a.start();
        await b.start();
        for (const p of [a, b]) expect(await fetch(`${p.url}/healthz`).then((r) => r.status)).toBe(200);
      } finally {
        await Promise.all([a.stop(), b.stop()]);
        await mongo.stop();
      }
    },
  );
});

describe('the first screen', () => {
  /** Runs the service under a pseudo-terminal (util-linux `script`) until it is ready, then SIGINTs it. */
  async function onTerminal(env: Record<string, string>): Promise<string> {
    const port = await freePort();
    const dataDir = mkdtempSync(join(tmpdir(), 'chainlog-ops-tty-'));
    const vars = { PORT: String(port), HOST: '127.0.0.1', DATA_DIR: dataDir, ...env };
    const inner = `env ${Object.entries(vars)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ')} ${process.execPath} ${npmStartNodeArgs().join(' ')}`;
    const child = spawn('script', ['-qec', inner, '/dev/null'], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    children.push(child);
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    const exited = new Promise((r) => child.once('exit', r));
    // The banner's last line: it follows the ready line, and `script` may not relay what is left after a SIGINT.
    await waitFor('the end of the banner', () => out.includes('Ctrl-C stops it'), 60_000);
    process.kill(-child.pid!, 'SIGINT');
    await exited;
    return out;
  }

  it(
    'on a terminal: a banner with the URL, where the admin key is, the verifier key and the next command; readable lines',
    { timeout: 90_000 },
    async () => {
      const out = await onTerminal({ LOG_FORMAT: 'auto' });
      const plain = out.replace(/\x1b\[[0-9;]*m/g, '');
      expect(plain).toMatch(/chainlog \S+ is running at http:\/\/127\.0\.0\.1:\d+/);
      expect(plain).toMatch(/admin API key\s+in \S+admin-api-key/);
      expect(plain).toMatch(/verifier key\s+chainlog\.local\+[0-9a-f]{8}\+/);
      expect(plain).toContain('createApiKey(role: WRITER');
      expect(plain).toMatch(/\d\d:\d\d:\d\d\.\d{3}\] INFO: chainlog ready/);
      expect(plain).not.toContain('{"level"');
    },
  );

  it('elsewhere (a pipe): JSON lines and no banner', { timeout: 60_000 }, async () => {
    const s = await startAs(process.execPath, npmStartNodeArgs(), { LOG_FORMAT: '' });
    process.kill(s.child.pid!, 'SIGTERM');
    await s.exited;
    const lines = s.output().trim().split('\n');
    for (const line of lines) expect(() => JSON.parse(line), line).not.toThrow();
    expect(s.output()).not.toContain('is running at');
    // The ready line says where the start's time went: each phase, and the total from the process's start.
    const ready = lines
      .map((l) => JSON.parse(l) as { msg?: string; startupMs?: Record<string, number> })
      .find((l) => l.msg === 'chainlog ready');
    const phases = ready?.startupMs ?? {};
    expect(Object.keys(phases)).toEqual(['process', 'storage', 'key', 'services', 'api', 'log', 'listen', 'total']);
    const { total, ...parts } = phases;
    const sum = Object.values(parts).reduce((a, b) => a + b, 0);
    // Each phase is rounded to the ms on its own: the sum may be off the total by one per phase.
    expect(Math.abs(sum - total!)).toBeLessThanOrEqual(Object.keys(parts).length);
  });
});
