// inconsistencyDetected's stream: delivers the matching records in order, ends a subscriber that falls
// more than maxBuffered behind with RESUME_REQUIRED, and drops its listener when it ends.
import { describe, expect, it } from 'vitest';
import { inconsistencyStream } from '../../../src/api/subscriptions/inconsistency-stream.js';
import type { InconsistencyListener } from '../../../src/inconsistency/reporter.js';
import type { InconsistencyRecord } from '../../../src/storage/inconsistency-store.js';

function source() {
  const listeners = new Set<InconsistencyListener>();
  return {
    listeners,
    onRecorded(l: InconsistencyListener) {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    emit(r: InconsistencyRecord) {
      for (const l of listeners) l(r);
    },
  };
}
const rec = (n: number, origin = 'example.com/a'): InconsistencyRecord => ({
  id: String(n),
  kind: 'unproven',
  proven: false,
  origin,
  sourceAppId: null,
  detectedBy: 'peer',
  source: 'p',
  detectedAt: n,
  evidence: '{}',
});

describe('inconsistencyStream', () => {
  it('delivers matching records in order and drops its listener on return', async () => {
    const s = source();
    const ends: string[] = [];
    const stream = inconsistencyStream(s, {
      matches: (r) => r.origin === 'example.com/a',
      maxBuffered: 10,
      onEnd: (r) => ends.push(r),
    });
    const next = stream.next();
    s.emit(rec(1));
    s.emit(rec(2, 'example.com/b'));
    s.emit(rec(3));
    expect((await next).value).toEqual(rec(1));
    expect((await stream.next()).value).toEqual(rec(3));
    await stream.return!();
    expect(s.listeners.size).toBe(0);
    expect(ends).toEqual(['done']);
    expect((await stream.next()).done).toBe(true);
  });

  it('ends a subscriber that falls behind with RESUME_REQUIRED', async () => {
    const s = source();
    const ends: string[] = [];
    const stream = inconsistencyStream(s, { matches: () => true, maxBuffered: 2, onEnd: (r) => ends.push(r) });
    for (let i = 0; i < 3; i++) s.emit(rec(i));
    await expect(stream.next()).rejects.toMatchObject({ extensions: { code: 'RESUME_REQUIRED' } });
    expect(ends).toEqual(['resume']);
    expect(s.listeners.size).toBe(0);
  });
});
