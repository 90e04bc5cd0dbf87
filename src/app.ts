// Wiring: configuration → storage → log pipeline → API server. Used by main and by tests/benchmarks.
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { pino, type Logger } from 'pino';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { createApiServer } from './api/server.js';
import { createAuthenticator } from './auth/bootstrap.js';
import type { Config } from './config.js';
import { ChainlogService } from './log/chainlog-service.js';
import { loadSigningKey } from './log/signing-key.js';
import { openStorage } from './storage/open.js';

export interface Chainlog {
  service: ChainlogService;
  url: string;
  logger: Logger;
  close(): Promise<void>;
}

const version: string = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version;

export async function startChainlog(config: Config, logger: Logger = pino({ level: config.LOG_LEVEL })): Promise<Chainlog> {
  const { storage, engine, location } = await openStorage(config);
  const key = loadSigningKey({ dataDir: config.DATA_DIR, keyFile: config.SIGNING_KEY_FILE });
  if (key.generated) logger.info({ path: key.source }, 'generated a new signing key');
  const service = new ChainlogService({
    storage,
    key,
    keyName: config.keyName,
    originPrefix: config.ORIGIN_PREFIX,
    checkpointIntervalMs: config.CHECKPOINT_INTERVAL_MS,
    version,
    logger,
    leaseTtlMs: config.LEASE_TTL_MS,
    tailIntervalMs: config.TAIL_INTERVAL_MS,
    maxConcurrentAudits: config.MAX_CONCURRENT_AUDITS,
  });
  let ready = false;
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const auth = createAuthenticator(config, storage, logger);
  const api = await createApiServer({ service, config, logger, registry, isReady: () => ready, auth });
  await service.start();
  await new Promise<void>((resolve, reject) => {
    api.httpServer.once('error', reject);
    api.httpServer.listen(config.PORT, config.HOST, () => resolve());
  });
  const { port } = api.httpServer.address() as AddressInfo;
  const url = `http://${config.HOST.includes(':') ? `[${config.HOST}]` : config.HOST}:${port}`;
  ready = true;
  logger.info({ url, engine, storage: location, verifierKey: service.info.verifierKey }, 'chainlog ready');
  return {
    service,
    url,
    logger,
    async close() {
      ready = false;
      await api.close();
      logger.debug('api closed');
      await service.stop();
      logger.debug('log service stopped');
      await storage.close();
      logger.debug('storage closed');
    },
  };
}
