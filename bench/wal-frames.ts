// WAL frames per commit of raw inserts of scenario 1's "1 log" rows: the deterministic figure behind
// batch ingest on SQLite (docs/performance.md, "Batch ingest at full size"). The schema, indexes, the
// time index's upkeep and connection pragmas are the service's; the WAL is not checkpointed (wal_autocheckpoint = 0) so that
// every frame written is still in it when counted.
//
//   npx tsx bench/wal-frames.ts [--rows 200000] [--commit 500] [--leaf 1|2] [--friendly]
//                               [--drop index,index] [--pragma "cache_size = -65536"] [--page-size 4096]
import { closeSync, mkdirSync, mkdtempSync, openSync, readSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { appNames, benchEvents, nextBatch, sizedPayload, streamTimestamps } from './events.js';
import { rawSqliteWriter, rowsFor } from './raw-baseline.js';
import { repoRoot } from './engines.js';
import { CONNECTION_PRAGMAS, migrate } from '../src/storage/sqlite/schema.js';
import { EVENT_COLUMNS } from '../src/storage/sqlite/event-rows.js';

const { values: o } = parseArgs({
  options: {
    rows: { type: 'string', default: '200000' },
    commit: { type: 'string', default: '500' },
    leaf: { type: 'string', default: '2' },
    friendly: { type: 'boolean', default: false },
    drop: { type: 'string', default: '' },
    pragma: { type: 'string', multiple: true, default: [] },
    'page-size': { type: 'string' },
  },
});
const total = Number(o.rows);
const commitRows = Number(o.commit);

// Scenario 1's "1 log" case: the simulator's events, ~100-byte payloads, stamped as a live stream at
// 40,000 events/s with up to 1 s of jitter; or, with --friendly, timestamps in order and one type.
const source = benchEvents({ seed: 1001, logs: appNames('ingest', 1), timestampOf: streamTimestamps(total, 40_000) });
let inputs = nextBatch(source, total).map((e) => ({
  ...e,
  payload: sizedPayload(e.payload as Record<string, unknown>, 100),
}));
if (o.friendly) {
  const t0 = Date.now() - total;
  inputs = inputs.map((e, i) => ({ ...e, eventType: 'bench.event', timestamp: new Date(t0 + i).toISOString() }));
}
const rows = rowsFor(inputs, o.leaf === '1' ? 1 : 2);

mkdirSync(join(repoRoot, 'bench/tmp'), { recursive: true });
const dir = mkdtempSync(join(repoRoot, 'bench/tmp/wal-frames-'));
try {
  const file = join(dir, 'chainlog.db');
  const db = new Database(file);
  if (o['page-size']) db.pragma(`page_size = ${Number(o['page-size'])}`);
  for (const p of CONNECTION_PRAGMAS) db.pragma(p);
  for (const p of o.pragma) db.pragma(p);
  db.pragma('wal_autocheckpoint = 0');
  migrate(db);
  for (const index of o.drop.split(',').filter(Boolean)) db.exec(`DROP INDEX ${index}`);
  const writer = await rawSqliteWriter(db, EVENT_COLUMNS);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < rows.length; i += commitRows) writer.commit(rows.slice(i, i + commitRows));
  writer.finish();
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const pageSize = db.pragma('page_size', { simple: true }) as number;

  // The WAL: a 32-byte header, then frames of a 24-byte header and a page; a commit's last frame holds
  // the database size after the commit (non-zero), the others zero.
  const wal = `${file}-wal`;
  const size = statSync(wal).size;
  const fd = openSync(wal, 'r');
  const header = Buffer.alloc(24);
  let frames = 0;
  let commits = 0;
  for (let off = 32; off + 24 + pageSize <= size; off += 24 + pageSize) {
    readSync(fd, header, 0, 24, off);
    frames++;
    if (header.readUInt32BE(4) !== 0) commits++;
  }
  closeSync(fd);
  db.close(); // after counting: closing checkpoints the WAL and deletes it
  console.log(
    JSON.stringify({
      rows: total,
      commitRows,
      leafVersion: o.leaf === '1' ? 1 : 2,
      friendly: o.friendly,
      dropped: o.drop || null,
      pragmas: o.pragma,
      pageSize,
      framesPerCommit: Math.round((frames / commits) * 10) / 10,
      framesPerRow: Math.round((frames / total) * 1000) / 1000,
      walBytesPerRow: Math.round((frames * (pageSize + 24)) / total),
      cpuUsPerRow: Math.round(((cpu.user + cpu.system) / total) * 10) / 10,
      rowsPerSecond: Math.round(total / seconds),
    }),
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
