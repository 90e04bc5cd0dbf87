// Runs chainlog from its sources (`node --import tsx src/main.ts`, service-process.ts) and talks to it over HTTP/WebSocket.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { e2eEngineEnv } from './e2e-engine.js';
import { ServiceProcess, startOnFreePort } from './service-process.js';

export interface GraphqlResponse<T = any> {
  status: number;
  data?: T;
  errors?: Array<{ message: string; path?: unknown[]; extensions?: Record<string, any> }>;
}

/** The bootstrap admin key every service started here gets (ADMIN_API_KEY), unless opts.env overrides it. */
export const E2E_ADMIN_KEY = 'clk_e2e-admin-key-for-tests-only-0123456789';

export interface RunningService {
  url: string;
  dataDir: string;
  /** The admin key gql() and ws() send; null when the service runs with AUTH=off or without ADMIN_API_KEY. */
  adminKey: string | null;
  /** The service's stdout/stderr so far (pino JSON lines), for failure messages. */
  output(): string;
  /** As admin (adminKey). */
  gql<T = any>(query: string, variables?: Record<string, unknown>): Promise<GraphqlResponse<T>>;
  /** With this key (null: none). */
  gqlAs<T = any>(key: string | null, query: string, variables?: Record<string, unknown>): Promise<GraphqlResponse<T>>;
  /** A graphql-ws client on /graphql sending adminKey in connectionParams; closed by stop(). */
  ws(): Client;
  /** A graphql-ws client sending this key (null: none) in connectionParams. */
  wsAs(key: string | null): Client;
  /** Headers carrying adminKey, for raw fetches. */
  authHeaders(): Record<string, string>;
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Extra environment, e.g. { MONGODB_URI } to run on the MongoDB engine. */
  env?: Record<string, string>;
  startTimeoutMs?: number;
}

/** A service on a fresh DATA_DIR; on the e2e suites' engine (e2e-engine.ts), each on a database of its own. */
export async function startService(opts: StartOptions = {}): Promise<RunningService> {
  const dataDir = mkdtempSync(join(tmpdir(), 'chainlog-e2e-'));
  const env = {
    LOG_LEVEL: 'info',
    CHECKPOINT_INTERVAL_MS: '200',
    AUTH: 'on',
    ADMIN_API_KEY: E2E_ADMIN_KEY,
    ...e2eEngineEnv('e2e'),
    ...opts.env,
  };
  const proc = await startOnFreePort((port) => new ServiceProcess(port, dataDir, env), { timeoutMs: opts.startTimeoutMs });

  const { url, port } = proc;
  const clients: Client[] = [];
  const adminKey = env.AUTH === 'off' || !env.ADMIN_API_KEY ? null : env.ADMIN_API_KEY;
  const keyHeaders = (key: string | null): Record<string, string> => (key ? { 'x-api-key': key } : {});
  const wsAs = (key: string | null) => {
    const client = createClient({
      url: `ws://127.0.0.1:${port}/graphql`,
      webSocketImpl: WebSocket,
      retryAttempts: 0,
      ...(key && { connectionParams: { 'x-api-key': key } }),
    });
    clients.push(client);
    return client;
  };
  async function gqlAs<T = any>(
    key: string | null,
    query: string,
    variables?: Record<string, unknown>,
  ): Promise<GraphqlResponse<T>> {
    const res = await fetch(`${url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...keyHeaders(key) },
      body: JSON.stringify({ query, variables }),
    });
    const body = (await res.json()) as Omit<GraphqlResponse<T>, 'status'>;
    return { status: res.status, ...body };
  }
  return {
    url,
    dataDir,
    adminKey,
    authHeaders: () => keyHeaders(adminKey),
    gqlAs,
    wsAs,
    output: () => proc.output(),
    gql: (query, variables) => gqlAs(adminKey, query, variables),
    ws: () => wsAs(adminKey),
    async stop() {
      await Promise.all(clients.map(async (c) => c.dispose()));
      await proc.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Collects what a subscription sends, so tests can wait for a count or for its end. */
export class SubscriptionProbe<T> {
  readonly values: T[] = [];
  readonly errors: unknown[] = [];
  completed = false;
  private waiters: Array<() => void> = [];
  readonly unsubscribe: () => void;

  constructor(client: Client, query: string, variables?: Record<string, unknown>) {
    this.unsubscribe = client.subscribe<T>(
      { query, ...(variables && { variables }) },
      {
        next: (v) => {
          if (v.errors) this.errors.push(...v.errors);
          if (v.data) this.values.push(v.data);
          this.notify();
        },
        error: (e) => {
          this.errors.push(...(Array.isArray(e) ? e : [e]));
          this.completed = true;
          this.notify();
        },
        complete: () => {
          this.completed = true;
          this.notify();
        },
      },
    );
  }

  private notify() {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Resolves when `done()` holds; rejects after the timeout with what was seen so far. */
  async until(done: (p: this) => boolean, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!done(this)) {
      if (Date.now() > deadline) {
        throw new Error(`subscription: timed out with ${this.values.length} values, errors ${JSON.stringify(this.errors)}`);
      }
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
  }
}
