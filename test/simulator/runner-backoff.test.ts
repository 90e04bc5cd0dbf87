// The runner's answer to a failing service, with the transport replaced by a function that answers as
// a failing service would: bounded requests when it is down, no stop while it only rate-limits, and a
// failure count that starts again when it answers.
import { describe, expect, it } from 'vitest';
import { createGenerator } from '../../src/simulator/generator.js';
import { runSimulation } from '../../src/simulator/runner.js';
import type { SendOutcome } from '../../src/simulator/transport.js';

const generator = () => createGenerator({ seed: 7, apps: 2 });
const run = (send: (n: number) => SendOutcome, extra: { concurrency?: number; count?: number } = {}) => {
  let calls = 0;
  const done = runSimulation({
    generator: generator(),
    send: async (events) => send(++calls) ?? { latencyMs: 1, codes: events.map(() => null) },
    rate: 0,
    concurrency: extra.concurrency ?? 1,
    batch: 1,
    count: extra.count ?? 10_000,
    backoffMs: 1,
    maxBackoffMs: 4,
  });
  return done.then((summary) => ({ summary, calls }));
};
const down: SendOutcome = { latencyMs: 1, codes: ['NETWORK_ERROR'], unavailable: true };
const serverError: SendOutcome = { latencyMs: 1, codes: ['HTTP_503'], unavailable: true };
const throttled: SendOutcome = { latencyMs: 1, codes: ['RATE_LIMITED'], throttled: true };
const ok: SendOutcome = { latencyMs: 1, codes: [null] };

describe('simulator runner against a failing service', () => {
  it('stops after 8 failed requests in a row (no answer or 5xx), plus what other workers had in flight', async () => {
    for (const failure of [down, serverError]) {
      const { summary, calls } = await run(() => failure, { concurrency: 4 });
      expect(summary.stoppedEarly).toContain('failed');
      expect(calls).toBeGreaterThanOrEqual(8);
      expect(calls).toBeLessThanOrEqual(8 + 3);
    }
  });

  it('counts failures in a row only: a service that answers in between is not given up on', async () => {
    const { summary, calls } = await run((n) => (n % 5 === 0 ? ok : down), { count: 60 });
    expect(summary.stoppedEarly).toBeUndefined();
    expect(calls).toBe(60);
    expect(summary.accepted).toBe(12);
  });

  it('slows down but does not stop while the service only rate-limits', async () => {
    const { summary, calls } = await run(() => throttled, { count: 30 });
    expect(summary.stoppedEarly).toBeUndefined();
    expect(calls).toBe(30);
    expect(summary.rejectedByCode).toEqual({ RATE_LIMITED: 30 });
  });
});
