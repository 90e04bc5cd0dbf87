// A chainlog service for the client's suites: the real service (service-process.ts) with authentication on,
// on the suites' engine (e2e-engine.ts), and the verifier key pinned from its key file, never asked of it.
import { createPrivateKey } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import {
  createChainlogClient,
  type ChainlogClient,
  type ChainlogClientOptions,
  type LogEventInput,
} from '../../src/client/index.js';
import { rawPublicKey, verifierKeyString, type JsonObject } from '../../src/core/index.js';
import { e2eEngineEnv } from '../support/e2e-engine.js';
import { ServiceProcess, startOnFreePort } from '../support/service-process.js';

export const ADMIN_KEY = 'clk_client-admin-key-for-tests-only-0123456789';
export const ORIGIN_PREFIX = 'client.test';

export interface ClientService {
  proc: ServiceProcess;
  url: string;
  /** The pinned verifier key, from DATA_DIR/signing-key.pem. */
  verifierKey: string;
  /** A client of this service as admin; `options` override. */
  client(options?: Partial<ChainlogClientOptions>): ChainlogClient;
  /** Stops the service and removes its DATA_DIR. */
  stop(): Promise<void>;
}

export async function startClientService(): Promise<ClientService> {
  const dataDir = mkdtempSync(join(tmpdir(), 'chainlog-client-'));
  const proc = await startOnFreePort(
    (port) =>
      new ServiceProcess(port, dataDir, {
        AUTH: 'on',
        ADMIN_API_KEY: ADMIN_KEY,
        ORIGIN_PREFIX,
        KEY_NAME: ORIGIN_PREFIX,
        CHECKPOINT_INTERVAL_MS: '200',
        ...e2eEngineEnv('client'),
      }),
  );
  const pem = readFileSync(join(dataDir, 'signing-key.pem'), 'utf8');
  const verifierKey = verifierKeyString(ORIGIN_PREFIX, rawPublicKey(createPrivateKey(pem)));
  return {
    proc,
    url: proc.url,
    verifierKey,
    client: (options = {}) =>
      createChainlogClient({ url: proc.url, apiKey: ADMIN_KEY, verifierKey, webSocketImpl: WebSocket, ...options }),
    async stop() {
      await proc.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

let n = 0;
/** A valid event for `sourceAppId`, each with its own payload. */
export const eventFor = (sourceAppId: string, extra: JsonObject = {}): LogEventInput => ({
  sourceAppId,
  eventType: 'client.test',
  timestamp: new Date(Date.UTC(2026, 0, 1) + ++n).toISOString(),
  payload: { n, ...extra },
});
