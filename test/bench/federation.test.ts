// Scenario 11's pure parts: how latencies are matched to checkpoint deliveries, and the figures the
// report carries (names, units, same-run baselines, the one target). No timing is asserted.
import { describe, expect, it } from 'vitest';
import { SCENARIOS } from '../../bench/scenarios/index.js';
import {
  coverLatencies,
  federation,
  federationFigures,
  WITNESSED_P95_TARGET_MS,
  type Delivery,
} from '../../bench/scenarios/federation.js';
import { summarize } from '../../src/simulator/stats.js';
import { parseBenchArgs } from '../../bench/options.js';
import { runOne } from '../../bench/run.js';
import type { Scenario } from '../../bench/scenario.js';

function parseQuick() {
  const r = parseBenchArgs(['--quick']);
  if (r.help || 'error' in r) throw new Error('expected options');
  return r.options;
}

describe('coverLatencies', () => {
  const deliveries = new Map<string, Delivery[]>([
    [
      'a',
      [
        { size: 2, at: 1100 },
        { size: 5, at: 2100 },
      ],
    ],
    ['b', [{ size: 1, at: 1500 }]],
  ]);

  it('times each event to the first delivery of its own log whose tree covers it (size > seq)', () => {
    const acks = [
      { app: 'a', seq: 0, at: 1000, ackMs: 5 },
      { app: 'a', seq: 1, at: 1000, ackMs: 5 },
      { app: 'a', seq: 2, at: 1200, ackMs: 5 },
      { app: 'b', seq: 0, at: 1400, ackMs: 5 },
    ];
    expect(coverLatencies(acks, deliveries)).toEqual({ latencies: [100, 100, 900, 100], missing: 0 });
  });

  it('counts the events no delivery covers instead of timing them', () => {
    const acks = [
      { app: 'a', seq: 5, at: 1000, ackMs: 5 },
      { app: 'b', seq: 1, at: 1000, ackMs: 5 },
      { app: 'c', seq: 0, at: 1000, ackMs: 5 },
    ];
    expect(coverLatencies(acks, deliveries)).toEqual({ latencies: [], missing: 3 });
  });
});

describe('the federation report', () => {
  const w = {
    proofReady: summarize([400, 600, 900]),
    witnessed: summarize([450, 700, 1000]),
    added: summarize([50, 100, 100]),
    ack: summarize([10, 20, 30]),
  };
  const m = {
    catchUpPerSecond: 5000,
    primaryBatchPerSecond: 20000,
    followPerSecond: 500,
    primaryLivePerSecond: 500,
    lag: summarize([0, 100, 500]),
  };

  it('is scenario 11, run on its own servers', () => {
    expect(SCENARIOS).toContain(federation);
    expect(federation.id).toBe('11');
    expect(federation.usesDataset).toBeFalsy();
  });

  it('is skipped, with the reason, on the FerretDB test server, starting nothing', async () => {
    const engine = {
      name: 'mongodb' as const,
      description: 'FerretDB test server',
      slow: true,
      freshStore: () => Promise.reject(new Error('no store may be made')),
      close: async () => {},
    };
    const out = await federation.run({ engine, options: parseQuick(), log: () => {} });
    expect(out).toMatchObject({ figures: [], skipped: expect.stringMatching(/FerretDB test server.*MONGODB_URI/) });
  });

  it('reports witnessed beside unwitnessed latency, and the mirror against the primary, each with its baseline', () => {
    const figures = federationFigures('sqlite', w, m);
    expect(figures.map((f) => [f.name, f.unit, f.baseline?.name])).toEqual([
      ['proof-ready latency p50 (unwitnessed)', 'ms', 'logEvents ack p50'],
      ['proof-ready latency p95 (unwitnessed)', 'ms', 'logEvents ack p95'],
      ['witnessed latency p50 (2 of 2 local witnesses)', 'ms', 'proof-ready p50, same events'],
      ['witnessed latency p95 (2 of 2 local witnesses)', 'ms', 'proof-ready p95, same events'],
      ['witnessing adds, p95 per event', 'ms', 'p50'],
      ['mirror catch-up (events verified and stored/s)', 'events/s', 'primary batch ingest'],
      ['mirror follow rate after catching up', 'events/s', 'primary live ingest'],
      ['mirror lag p95 while following', 'events', 'primary live ingest per checkpoint interval'],
    ]);
    const byName = Object.fromEntries(figures.map((f) => [f.name, f]));
    expect(byName['witnessed latency p95 (2 of 2 local witnesses)']).toMatchObject({
      value: 1000,
      baseline: { value: 900 },
      target: { op: '<=', value: WITNESSED_P95_TARGET_MS },
      status: 'MISS',
    });
    expect(byName['mirror catch-up (events verified and stored/s)']).toMatchObject({
      value: 5000,
      baseline: { value: 20000 },
      status: 'INFO',
    });
    // The only target is the witnessed p95; everything else is read beside its baseline.
    expect(figures.filter((f) => f.target)).toHaveLength(1);
    expect(federationFigures('mongodb', w, m).every((f) => f.status === 'INFO')).toBe(true);
  });

  it("keeps one part's figures when the other part failed", () => {
    const names = (fs: { name: string }[]) => fs.map((f) => f.name);
    const all = names(federationFigures('sqlite', w, m));
    expect(names(federationFigures('sqlite', w, null))).toEqual(all.filter((n) => !n.startsWith('mirror')));
    expect(names(federationFigures('sqlite', null, m))).toEqual(all.filter((n) => n.startsWith('mirror')));
  });

  it('reports a scenario whose part failed as an error that keeps the figures it has', async () => {
    const figures = federationFigures('sqlite', w, null);
    const partial: Scenario = {
      id: '11',
      title: 'partial',
      measures: 'two parts',
      run: () => Promise.resolve({ figures, details: {}, failed: 'mirror: not within 300000 ms' }),
    };
    const engine = {
      name: 'sqlite' as const,
      description: 'x',
      slow: false,
      freshStore: () => Promise.reject(new Error('unused')),
      close: async () => {},
    };
    const result = await runOne(partial, { engine, options: parseQuick(), log: () => {} });
    expect(result).toMatchObject({ status: 'error', reason: 'mirror: not within 300000 ms', figures });
  });
});
