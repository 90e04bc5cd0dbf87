// Pipelines of leaf version 2 on one engine for the erasure suites: each with its own key directory,
// stopped, cleaned up and removed after each test of the describe that makes them.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import type { ChainlogServiceOptions } from '../../src/log/chainlog-service.js';
import { ERASURES_LOG, ERASURE_EVENT_TYPE } from '../../src/log/erasure.js';
import type { LogStorage } from '../../src/storage/types.js';
import { startPipeline, type EnginePipeline } from '../support/pipeline.js';
import type { Engine } from './engines.js';

/**
 * Call inside a describe: `pipeline(options, wrap)` starts a version 2 pipeline on a fresh store of
 * `engine` (its storage seen through `wrap`, e.g. with faults), and `restart` stops it and starts it
 * again on the same data.
 */
export function leafV2Pipelines(engine: Engine) {
  const open: Array<{ p: EnginePipeline; cleanup: () => Promise<void>; dir: string }> = [];
  afterEach(async () => {
    for (const o of open.splice(0)) {
      await o.p.close().catch(() => undefined);
      await o.cleanup();
      rmSync(o.dir, { recursive: true, force: true });
    }
  });
  return async function pipeline(options: Partial<ChainlogServiceOptions> = {}, wrap: (s: LogStorage) => LogStorage = (s) => s) {
    const h = engine.harness();
    const dir = mkdtempSync(join(tmpdir(), 'chainlog-v2-key-'));
    const p = await startPipeline(wrap(h.storage), dir, { leafVersion: 2, ...options });
    const entry = { p, cleanup: h.cleanup, dir };
    open.push(entry);
    return {
      p,
      /** Stop and start again on the same data (its storage seen through `rewrap`). */
      restart: async (more: Partial<ChainlogServiceOptions> = {}, rewrap: (s: LogStorage) => LogStorage = (s) => s) => {
        await entry.p.close();
        entry.p = await startPipeline(rewrap(await h.reopen()), dir, { leafVersion: 2, ...options, ...more });
        return entry.p;
      },
    };
  };
}

/**
 * The erasure record of `sourceAppId`/`seq` as eraseEvents writes it (reason `r`, by `k`, erased at
 * `at + 5`), committed and not applied: what a process that stopped between the two leaves.
 */
export async function recordNotApplied(p: EnginePipeline, sourceAppId: string, seq: number, at: number): Promise<void> {
  const target = (await p.storage.getEvent(sourceAppId, seq))!;
  await p.service.append([
    {
      sourceAppId: ERASURES_LOG,
      eventType: ERASURE_EVENT_TYPE,
      timestamp: at,
      payload: {
        reason: 'r',
        by: 'k',
        erasedAt: at + 5,
        selection: { kind: 'ids' },
        events: [[sourceAppId, seq, target.payloadHash!]],
      },
    },
  ]);
}
