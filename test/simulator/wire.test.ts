import { describe, expect, it } from 'vitest';
import { parseSimulateArgs } from '../../src/simulator/options.js';
import { percentile, SimulationStats } from '../../src/simulator/stats.js';
import { outcomeCodes } from '../../src/simulator/transport.js';

describe('outcomeCodes', () => {
  it('accepts a REST 201 with every event', () => {
    expect(outcomeCodes('rest', 201, { events: [{}, {}] }, 2)).toEqual([null, null]);
  });
  it('maps REST per-index errors and marks the rest of an all-or-nothing batch', () => {
    const body = { errors: [{ code: 'BAD_USER_INPUT', index: 1, field: 'eventType', rule: 'format', message: 'x' }] };
    expect(outcomeCodes('rest', 400, body, 3)).toEqual(['BATCH_REJECTED', 'BAD_USER_INPUT', 'BATCH_REJECTED']);
  });
  it('maps GraphQL extensions, with and without per-item errors', () => {
    expect(outcomeCodes('graphql', 200, { data: { logEvents: [{ seq: 0 }] } }, 1)).toEqual([null]);
    const items = {
      errors: [{ message: 'm', extensions: { code: 'BAD_USER_INPUT', errors: [{ index: 0, code: 'PAYLOAD_TOO_LARGE' }] } }],
      data: null,
    };
    expect(outcomeCodes('graphql', 200, items, 2)).toEqual(['PAYLOAD_TOO_LARGE', 'BATCH_REJECTED']);
    expect(outcomeCodes('graphql', 401, { errors: [{ message: 'm', extensions: { code: 'UNAUTHENTICATED' } }] }, 2)).toEqual([
      'UNAUTHENTICATED',
      'UNAUTHENTICATED',
    ]);
  });
  it('falls back to the HTTP status when the body is not ours', () => {
    expect(outcomeCodes('rest', 502, undefined, 1)).toEqual(['HTTP_502']);
  });
});

describe('stats', () => {
  it('nearest-rank percentiles', () => {
    const xs = Array.from({ length: 100 }, (_, i) => i + 1);
    expect([percentile(xs, 50), percentile(xs, 95), percentile(xs, 99)]).toEqual([50, 95, 99]);
    // No samples, no figure; a simulation summary without requests shows 0.
    expect(percentile([], 50)).toBeNaN();
    expect(new SimulationStats(0).summary(1000).latencyMs).toEqual({ p50: 0, p95: 0, p99: 0, max: 0 });
  });
  it('counts accepted, rejected by code and the fate of invalid events', () => {
    const s = new SimulationStats(0);
    s.record(10, [
      { code: null, invalid: false },
      { code: 'BAD_USER_INPUT', invalid: true },
    ]);
    s.record(30, [{ code: null, invalid: true }]);
    const sum = s.summary(2000);
    expect(sum).toMatchObject({ sent: 3, accepted: 2, rejected: 1, requests: 2, rate: 1, rejectedByCode: { BAD_USER_INPUT: 1 } });
    expect(sum.invalid).toEqual({ sent: 2, rejected: 1, accepted: 1 });
    expect(sum.latencyMs.max).toBe(30);
  });
});

describe('simulate options', () => {
  it('applies defaults and the env API key', () => {
    const r = parseSimulateArgs(['--count', '20', '--seed', '1'], { CHAINLOG_API_KEY: 'k1' });
    expect(r).toMatchObject({
      options: { url: 'http://127.0.0.1:4000', count: 20, durationMs: undefined, apiKey: 'k1', seed: 1, batch: 10 },
    });
    expect(parseSimulateArgs([], {})).toMatchObject({ options: { durationMs: 10_000 } });
  });
  it('names every bad option', () => {
    const r = parseSimulateArgs(['--rate=-1', '--batch', '0', '--transport', 'ftp', '--invalid-ratio', '2'], {});
    expect('error' in r && r.error.split('\n')).toEqual([
      '--transport must be rest or graphql',
      '--rate must be 0 or more',
      '--batch must be at least 1',
      '--invalid-ratio must be between 0 and 1',
    ]);
    expect(parseSimulateArgs(['--nope'], {})).toMatchObject({ error: expect.stringContaining('--nope') });
    expect(parseSimulateArgs(['--help'], {})).toEqual({ help: true });
  });
});
