// Headless Chromium for the dashboard's end-to-end tests (found and launched by bench/browser.ts, shared
// with the first-screen measurement), what a page did that a safe page must not, and the built server.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
export { findChromium, launch } from '../../bench/browser.js';
import { freePort, REPO_ROOT } from '../support/service-process.js';
import { until } from '../support/wait.js';

/** What a page did that a safe page must not: dialogs, requests elsewhere than its server, CSP reports. */
export interface PageWatch {
  dialogs: string[];
  foreignRequests: string[];
  requests: string[];
  cspViolations: string[];
}

export function watch(page: Page, serverUrl: string): PageWatch {
  const w: PageWatch = { dialogs: [], foreignRequests: [], requests: [], cspViolations: [] };
  page.on('dialog', (d) => {
    w.dialogs.push(d.message());
    void d.dismiss();
  });
  page.on('request', (r) => {
    const url = r.url();
    w.requests.push(url);
    const ws = serverUrl.replace(/^http/, 'ws');
    if (!url.startsWith(`${serverUrl}/`) && !url.startsWith(`${ws}/`)) w.foreignRequests.push(url);
  });
  page.on('console', (m) => {
    if (/Content Security Policy|Trusted ?Type/i.test(m.text())) w.cspViolations.push(m.text());
  });
  return w;
}

/** chainlog started as its users start it once built: `node dist/main.js` (what `npm start` runs after its build). */
export class BuiltServer {
  readonly url: string;
  private child: ChildProcess | null = null;
  private log = '';

  private constructor(
    readonly port: number,
    readonly dataDir: string,
    private readonly env: Record<string, string>,
  ) {
    this.url = `http://127.0.0.1:${port}`;
  }

  static async start(
    env: Record<string, string>,
    dataDir = mkdtempSync(join(tmpdir(), 'chainlog-dashboard-')),
  ): Promise<BuiltServer> {
    const s = new BuiltServer(await freePort(), dataDir, env);
    await s.start();
    return s;
  }

  output(): string {
    return this.log;
  }

  async start(): Promise<void> {
    const { MONGODB_URI: _u, MONGODB_DB: _d, ...inherited } = process.env;
    const child = spawn(process.execPath, ['dist/main.js'], {
      cwd: REPO_ROOT,
      env: {
        ...inherited,
        NODE_ENV: 'test',
        LOG_LEVEL: 'warn',
        HOST: '127.0.0.1',
        PORT: String(this.port),
        DATA_DIR: this.dataDir,
        ...this.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    child.stdout.on('data', (d) => (this.log += d));
    child.stderr.on('data', (d) => (this.log += d));
    await until(
      `chainlog on ${this.url} to answer /healthz`,
      async () => {
        if (child.exitCode !== null) throw new Error(`chainlog exited (${child.exitCode}):\n${this.log}`);
        return fetch(`${this.url}/healthz`).then(
          (r) => r.ok,
          () => false,
        );
      },
      { timeoutMs: 60_000, intervalMs: 100 },
    );
  }

  /** Sends a signal (SIGHUP reloads the witness policy). */
  signal(signal: NodeJS.Signals): void {
    if (!this.child) throw new Error('not running');
    this.child.kill(signal);
  }

  /** SIGTERM, as a supervisor stops it; resolves when it has exited. */
  async stop(): Promise<void> {
    const child = this.child;
    this.child = null;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }

  async gql<T = any>(key: string | null, query: string, variables?: Record<string, unknown>): Promise<T> {
    const res = await fetch(`${this.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(key && { 'x-api-key': key }) },
      body: JSON.stringify({ query, variables }),
    });
    const body = (await res.json()) as { data?: T; errors?: unknown[] };
    if (body.errors) throw new Error(`GraphQL errors: ${JSON.stringify(body.errors)}`);
    return body.data as T;
  }
}

export const REPO = REPO_ROOT;
