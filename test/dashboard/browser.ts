// Headless Chromium for the dashboard's end-to-end tests (found and launched by bench/browser.ts, shared
// with the first-screen measurement), what a page did that a safe page must not, and the built server.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
export { findChromium, launch } from '../../bench/browser.js';
import { freePort, REPO_ROOT, ServiceProcess } from '../support/service-process.js';

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

/** chainlog started as its users start it once built: what `npm start` runs after its build (node, its flags, dist/main.js). */
export class BuiltServer extends ServiceProcess {
  constructor(port: number, dataDir: string, env: Record<string, string>) {
    super(port, dataDir, env, { built: true });
  }

  static async start(
    env: Record<string, string>,
    dataDir = mkdtempSync(join(tmpdir(), 'chainlog-dashboard-')),
  ): Promise<BuiltServer> {
    const s = new BuiltServer(await freePort(), dataDir, env);
    await s.start();
    return s;
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
