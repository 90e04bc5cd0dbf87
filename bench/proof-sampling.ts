// Proof sampling shared by scenario 5 (bench/scenarios/proofs.ts) and the ten-million scale run
// (scripts/scale/ten-million.ts): the log service's own proof calls over a second connection to a
// running bench server's store (the code the resolvers run, without HTTP or GraphQL), timed call by call.
import { pino } from 'pino';
import { loadConfig } from '../src/config.js';
import { ChainlogService } from '../src/log/chainlog-service.js';
import { loadSigningKey } from '../src/log/signing-key.js';
import type { LogStorage } from '../src/storage/types.js';
import { openStorage } from '../src/storage/open.js';
import { summarize, type Distribution } from '../src/simulator/stats.js';

export interface ProofService {
  service: ChainlogService;
  storage: LogStorage;
  /** Stops the service and closes its store connection (the server keeps running). */
  close(): Promise<void>;
}

/**
 * The log service over its own connection to the store of the server started with `serverEnv`
 * (ServerHandle.env): it signs nothing while the caller only asks for proofs.
 */
export async function openProofService(serverEnv: Record<string, string>, version: string): Promise<ProofService> {
  const config = loadConfig({ ...serverEnv });
  const { storage } = await openStorage(config);
  const service = new ChainlogService({
    storage,
    key: loadSigningKey({ dataDir: config.DATA_DIR, keyFile: config.SIGNING_KEY_FILE }),
    keyName: config.keyName,
    originPrefix: config.ORIGIN_PREFIX,
    checkpointIntervalMs: config.CHECKPOINT_INTERVAL_MS,
    version,
    logger: pino({ level: 'silent' }),
  });
  return {
    service,
    storage,
    async close() {
      await service.stop().catch(() => undefined);
      await storage.close();
    },
  };
}

/** Milliseconds of each call of `call` while `more()` says so (bench/load.ts budget, or a count). */
export async function timeCalls(more: () => boolean, call: () => Promise<unknown>): Promise<number[]> {
  const xs: number[] = [];
  while (more()) {
    const t = performance.now();
    await call();
    xs.push(performance.now() - t);
  }
  return xs;
}

/**
 * Server time of inclusion proofs of random leaves below `size` of `app` (the log service's own call),
 * at the tree size `treeSize` (default: the latest checkpoint's).
 */
export async function inclusionServerTime(
  service: ChainlogService,
  o: { app: string; size: number; rand: () => number; more: () => boolean; treeSize?: number },
): Promise<Distribution> {
  return summarize(await timeCalls(o.more, () => service.inclusionProof(o.app, Math.floor(o.rand() * o.size), o.treeSize)));
}

/** `() => boolean` that says yes `n` times. */
export function times(n: number): () => boolean {
  let i = 0;
  return () => i++ < n;
}
