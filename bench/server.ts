// A chainlog server as a child process (as `npm start` runs it), so its resident size is its
// own and the benchmark's clients do not share its event loop.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { execFileSync } from 'node:child_process';
import type { Engine, FreshStore } from './engines.js';
import { repoRoot } from './engines.js';
import { httpGetStatus, sleep } from './http.js';
import { listensOn } from './port-owner.js';

export interface ServerHandle {
  url: string;
  wsUrl: string;
  pid: number;
  store: FreshStore;
  /** The environment the server was started with (chainlog's variables only). */
  env: Record<string, string>;
  /** Resident set size of the server process, bytes. */
  rssBytes(): number;
  /** CPU time the server process has used so far (all threads, user + system), seconds; null where unknown. */
  cpuSeconds(): number | null;
  /** Stops the server (SIGTERM, then SIGKILL) and disposes of its store. */
  stop(): Promise<void>;
  /** Kills the server (SIGKILL: no shutdown hook runs) and disposes of its store. */
  kill(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * `node` arguments that start the server as `npm start` does (package.json; a test keeps the two equal):
 * the built service, which `npm run bench` and `npm run scale` build first, with the main thread's young
 * generation (src/young-generation.ts) and without V8's allocation-site pretenuring (docs/performance.md,
 * "Request objects born in old space").
 */
export const SERVER_NODE_ARGS: readonly string[] = [
  '--max-semi-space-size=32',
  '--no-allocation-site-pretenuring',
  'dist/main.js',
];

/** VmRSS from /proc (Linux), else `ps`. */
export function rssOf(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    if (m) return Number(m[1]) * 1024;
  } catch {
    // not Linux, or the process is gone
  }
  const out = execFileSync('ps', ['-o', 'rss=', '-p', String(pid)], { encoding: 'utf8' }).trim();
  return Number(out) * 1024;
}

/** User + system CPU time of a process from /proc (Linux; clock ticks of 1/100 s), else null. */
export function cpuSecondsOf(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return null;
  }
}

/** Children still running: killed if the benchmark itself is interrupted or exits early. */
const live = new Set<ChildProcess>();
let cleanupInstalled = false;

/**
 * Kills `child` (SIGKILL) if this process exits or is interrupted (SIGINT, SIGTERM, SIGHUP: then it exits
 * 128 + the signal's number) while the child still runs. Shared by the benchmark and the scale harness.
 */
export function killOnExit(child: ChildProcess): void {
  if (!cleanupInstalled) {
    cleanupInstalled = true;
    const killAll = () => {
      for (const c of live) c.kill('SIGKILL');
    };
    process.on('exit', killAll);
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      process.once(signal, () => {
        killAll();
        process.exit(128 + (signal === 'SIGINT' ? 2 : signal === 'SIGTERM' ? 15 : 1));
      });
    }
  }
  live.add(child);
  child.once('exit', () => live.delete(child));
}

/** Variables a bench server never inherits from the bench's own environment. */
const CHAINLOG_VARS = [
  'PORT',
  'HOST',
  'DATA_DIR',
  'CHECKPOINT_INTERVAL_MS',
  'ORIGIN_PREFIX',
  'KEY_NAME',
  'SIGNING_KEY_FILE',
  'MONGODB_URI',
  'MONGODB_DB',
  'LOG_LEVEL',
  'NODE_ENV',
  'MAX_CLOCK_SKEW_MS',
  'MAX_PAYLOAD_BYTES',
  'MAX_PAYLOAD_DEPTH',
  'MAX_BATCH_SIZE',
  'MAX_BODY_BYTES',
  'READ_BUDGET_ROWS',
  'AUTH',
  'ADMIN_API_KEY',
  'WITNESSED_LOGS_FILE',
  'WITNESS_KEY_FILE',
  'WITNESS_NAME',
  'WITNESS_RATE_LIMIT_PER_SEC',
  'WITNESS_POLICY_FILE',
  'WITNESS_SUBMIT_TIMEOUT_MS',
  'WITNESS_SUBMIT_MAX_BACKOFF_MS',
  'PEERS_FILE',
  'FOLLOW_URL',
  'FOLLOW_VERIFIER_KEY',
  'FOLLOW_API_KEY',
  'ADVERTISE_URL',
  'PROCESS_SECRET',
  'FORWARD_SILENCE_MS',
  'FORWARD_TIMEOUT_MS',
];

export interface StartOptions {
  /** Where a fresh store is made; not needed with `store`. */
  engine?: Engine;
  label: string;
  /** Extra chainlog variables, e.g. CHECKPOINT_INTERVAL_MS. */
  env?: Record<string, string>;
  /** An existing store to start on (several processes on one database); default: a fresh one. */
  store?: FreshStore;
  /**
   * Several processes on one database: advertise the server's own URL (ADVERTISE_URL) with this
   * PROCESS_SECRET, so appends to a log another process holds are handed to it.
   */
  processSecret?: string;
  startTimeoutMs?: number;
  /** `node` arguments instead of SERVER_NODE_ARGS (another build of the service, as a baseline in the same run). */
  nodeArgs?: readonly string[];
}

const noEngine = (): never => {
  throw new Error('startServer needs an engine or a store');
};

export async function startServer(opts: StartOptions): Promise<ServerHandle> {
  const store = opts.store ?? (await (opts.engine ?? noEngine()).freshStore(opts.label));
  const port = await freePort();
  const env: Record<string, string> = {
    HOST: '127.0.0.1',
    PORT: String(port),
    LOG_LEVEL: 'warn',
    // As deployed (docker-compose.yml): graphql-js, among others, skips its development-time checks.
    NODE_ENV: 'production',
    // Authentication (when the service gets it) stays off: the benchmark measures the log, not key checks.
    AUTH: 'off',
    CHECKPOINT_INTERVAL_MS: '1000',
    ...store.env,
    ...(opts.processSecret !== undefined && { ADVERTISE_URL: `http://127.0.0.1:${port}`, PROCESS_SECRET: opts.processSecret }),
    ...opts.env,
  };
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !CHAINLOG_VARS.includes(k)));
  // BENCH_SERVER_NODE_ARGS: extra node flags for the servers (opt-in), e.g. "--cpu-prof --cpu-prof-dir=/tmp/p".
  const nodeArgs = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
  const child: ChildProcess = spawn(process.execPath, [...nodeArgs, ...(opts.nodeArgs ?? SERVER_NODE_ARGS)], {
    cwd: repoRoot,
    env: { ...inherited, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  killOnExit(child);
  let tail = '';
  const keep = (chunk: Buffer) => {
    tail = (tail + chunk.toString('utf8')).slice(-4000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  let exited: { code: number | null; signal: string | null } | null = null;
  const exit = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      resolve();
    }),
  );

  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (opts.startTimeoutMs ?? 90_000);
  for (;;) {
    if (exited) {
      await store.dispose();
      throw new Error(`chainlog server (${opts.label}) exited at start (${JSON.stringify(exited)}):\n${tail}`);
    }
    // The answer must be the child's: another process may have taken the port freePort handed out.
    if ((await httpGetStatus(`${url}/healthz`, 1000)) === 200 && (await listensOn(child.pid!, port))) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      await exit;
      await store.dispose();
      throw new Error(`chainlog server (${opts.label}) not ready within ${opts.startTimeoutMs ?? 90_000} ms:\n${tail}`);
    }
    await sleep(100);
  }

  let stopped = false;
  return {
    url,
    wsUrl: `ws://127.0.0.1:${port}/graphql`,
    pid: child.pid!,
    store,
    env,
    rssBytes: () => rssOf(child.pid!),
    cpuSeconds: () => cpuSecondsOf(child.pid!),
    async stop() {
      if (stopped) return;
      stopped = true;
      if (!exited) {
        child.kill('SIGTERM');
        const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
        await exit;
        clearTimeout(killer);
      }
      if (!opts.store) await store.dispose();
    },
    async kill() {
      if (stopped) return;
      stopped = true;
      if (!exited) {
        child.kill('SIGKILL');
        await exit;
      }
      if (!opts.store) await store.dispose();
    },
  };
}

/** Starts a server, runs `fn`, and always stops it. */
export async function withServer<T>(opts: StartOptions, fn: (server: ServerHandle) => Promise<T>): Promise<T> {
  const server = await startServer(opts);
  try {
    return await fn(server);
  } finally {
    await server.stop();
  }
}
