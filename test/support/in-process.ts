// chainlog started inside the test process (startChainlog), for tests that must control what a child
// process cannot be handed: here the rate limits' clock. Real HTTP and WebSocket on a loopback port.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { startChainlog, type Chainlog, type StartOptions } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';

/** A clock that moves only when the test says. */
export class ManualClock {
  constructor(private t = Date.UTC(2030, 0, 1)) {}
  readonly now = () => this.t;
  advance(ms: number): void {
    this.t += ms;
  }
}

export interface InProcessService {
  url: string;
  app: Chainlog;
  /** A graphql-ws client sending this key (null: none) in connectionParams; closed by stop(). */
  wsAs(key: string | null): Client;
  stop(): Promise<void>;
}

/** SQLite on a fresh DATA_DIR (or the engine `env` names); `env` are chainlog's settings. */
export async function startInProcess(
  env: Record<string, string>,
  clock: ManualClock,
  opts: Pick<StartOptions, 'wrapStorage'> = {},
): Promise<InProcessService> {
  const dataDir = mkdtempSync(join(tmpdir(), 'chainlog-inproc-'));
  const config = loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    LOG_LEVEL: 'silent',
    CHECKPOINT_INTERVAL_MS: '200',
    ...env,
  });
  const app = await startChainlog(config, undefined, { rateLimitClock: clock.now, ...opts });
  const clients: Client[] = [];
  return {
    url: app.url,
    app,
    wsAs(key) {
      const client = createClient({
        url: `${app.url.replace(/^http/, 'ws')}/graphql`,
        webSocketImpl: WebSocket,
        retryAttempts: 0,
        ...(key && { connectionParams: { 'x-api-key': key } }),
      });
      clients.push(client);
      return client;
    },
    async stop() {
      await Promise.all(clients.map(async (c) => c.dispose()));
      await app.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
