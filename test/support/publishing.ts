// The publishing service the publisher's tests start (test/log/publisher-*.test.ts), and storage whose
// checkpoint writes (putCheckpoint, or integrate carrying one) a test slows down or makes answer wrongly.
import { pino } from 'pino';
import { ChainlogService } from '../../src/log/chainlog-service.js';
import { loadSigningKey } from '../../src/log/signing-key.js';
import type { LogStorage, StoredCheckpoint } from '../../src/storage/types.js';

export const ORIGIN = 'test.chainlog';

export interface PublishingOptions {
  /** Where the signing key is made once and read again (one key for every service of a test file). */
  keyDir: string;
  intervalMs: number;
  /** CHECKPOINT_MIN_GAP_MS; 0 (the default here): publish on the interval only. */
  minGapMs?: number;
  now?: () => number;
}

/** A ChainlogService on `storage` (initialized here), not started: the caller registers listeners, then starts it. */
export async function publishingService(storage: LogStorage, o: PublishingOptions): Promise<ChainlogService> {
  await storage.init();
  return new ChainlogService({
    storage,
    key: loadSigningKey({ dataDir: o.keyDir }),
    keyName: ORIGIN,
    originPrefix: ORIGIN,
    checkpointIntervalMs: o.intervalMs,
    checkpointMinGapMs: o.minGapMs ?? 0,
    version: 'test',
    logger: pino({ level: 'silent' }),
    ...(o.now && { now: o.now }),
  });
}

/**
 * `storage` whose checkpoint writes go through `around`, which is given the real write and the
 * checkpoint: putCheckpoint, and integrate with a checkpoint (a publish's one write of the tree and
 * the checkpoint over it).
 */
export function aroundCheckpointWrites(
  storage: LogStorage,
  around: (write: () => Promise<void>, cp: StoredCheckpoint) => Promise<void>,
): LogStorage {
  return new Proxy(storage, {
    get(obj, prop, receiver) {
      const value = Reflect.get(obj, prop, receiver) as unknown;
      if (prop === 'putCheckpoint' && typeof value === 'function') {
        const put = value as LogStorage['putCheckpoint'];
        return (cp: StoredCheckpoint) => around(() => put.call(obj, cp), cp);
      }
      if (prop === 'integrate' && typeof value === 'function') {
        const integrate = value as LogStorage['integrate'];
        return (...args: Parameters<LogStorage['integrate']>) => {
          const cp = args[4];
          return cp ? around(() => integrate.apply(obj, args), cp) : integrate.apply(obj, args);
        };
      }
      return value;
    },
  });
}

/** Storage whose checkpoint writes each take `ms` longer (a slow engine), so a publish cycle lasts at least that. */
export const slowCheckpoints = (storage: LogStorage, ms: number): LogStorage =>
  aroundCheckpointWrites(storage, async (write) => {
    await new Promise((r) => setTimeout(r, ms));
    await write();
  });
