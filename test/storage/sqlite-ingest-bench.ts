// Manual benchmark (not part of the suite): appendEvents against raw batched inserts of the same
// rows into the same schema. Run: npx tsx test/storage/sqlite-ingest-bench.ts [events] [batch]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStorage } from '../../src/storage/sqlite/sqlite-storage.js';
import { EVENT_COLUMNS } from '../../src/storage/sqlite/event-rows.js';
import type { NewEvent } from '../../src/storage/types.js';
import { newEvents } from './event-fixtures.js';

export interface IngestRates {
  appendPerSecond: number;
  rawPerSecond: number;
}

function batchesOf(total: number, batch: number): NewEvent[][] {
  const apps = ['app-a', 'app-b', 'app-c', 'app-d'];
  const out: NewEvent[][] = [];
  const next = new Map(apps.map((a) => [a, 0]));
  for (let done = 0; done < total; done += batch) {
    const b: NewEvent[] = [];
    for (const app of apps) {
      const n = batch / apps.length;
      b.push(
        ...newEvents(app, next.get(app)!, n, (seq) => ({
          eventType: `type.${seq % 7}`,
          payload: { seq, user: `u${seq % 100}`, amount: seq * 1.25, tags: ['a', 'b'] },
        })),
      );
      next.set(app, next.get(app)! + n);
    }
    out.push(b);
  }
  return out;
}

async function timed(fn: () => Promise<void>): Promise<number> {
  const t = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t) / 1e9;
}

/** Rates in events/s over fresh files; best of `rounds`, alternating so noise hits both alike. */
export async function measureIngest(total: number, batch: number, rounds = 3): Promise<IngestRates> {
  const batches = batchesOf(total, batch);
  let bestAppend = Infinity;
  let bestRaw = Infinity;
  for (let r = 0; r < rounds; r++) {
    const dir = mkdtempSync(join(tmpdir(), 'chainlog-bench-'));
    try {
      const viaAppend = new SqliteStorage({ path: join(dir, 'append.db') });
      await viaAppend.init();
      bestAppend = Math.min(
        bestAppend,
        await timed(async () => {
          for (const b of batches) await viaAppend.appendEvents(b);
        }),
      );
      await viaAppend.close();

      const raw = new SqliteStorage({ path: join(dir, 'raw.db') });
      await raw.init();
      const insert = raw.db.prepare(`INSERT INTO events (${EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
      let pos = 1;
      const insertBatch = raw.db.transaction((b: NewEvent[]) => {
        for (const e of b) {
          insert.run(
            pos++,
            e.sourceAppId,
            e.seq,
            e.eventType,
            e.timestamp,
            e.receivedAt,
            JSON.stringify(e.payload),
            e.prevHash,
            e.hash,
            e.idempotencyKey,
          );
        }
      });
      bestRaw = Math.min(
        bestRaw,
        await timed(async () => {
          for (const b of batches) insertBatch.immediate(b);
        }),
      );
      await raw.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return { appendPerSecond: total / bestAppend, rawPerSecond: total / bestRaw };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const total = Number(process.argv[2] ?? 50_000);
  const batch = Number(process.argv[3] ?? 500);
  const r = await measureIngest(total, batch);
  console.log(
    `appendEvents ${Math.round(r.appendPerSecond)}/s, raw inserts ${Math.round(r.rawPerSecond)}/s, ratio ${(r.appendPerSecond / r.rawPerSecond).toFixed(2)}`,
  );
}
