// checkpointPublished's stream: filtered by log and scope, bounded, and ended at once when completed.
import { describe, expect, it } from 'vitest';
import { ApiError } from '../../../src/api/errors.js';
import { checkpointStream } from '../../../src/api/subscriptions/checkpoint-stream.js';
import type { CheckpointUpdate } from '../../../src/log/service.js';

function publisher() {
  const listeners = new Set<(u: CheckpointUpdate) => void>();
  return {
    service: {
      onCheckpoint(listener: (u: CheckpointUpdate) => void) {
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
    },
    publish: (sourceAppId: string, treeSize: number) =>
      listeners.forEach((l) =>
        l({ checkpoint: { sourceAppId, treeSize } as CheckpointUpdate['checkpoint'], previous: null, consistencyHashes: [] }),
      ),
    get listeners() {
      return listeners.size;
    },
  };
}

describe('checkpointStream', () => {
  it('delivers the checkpoints of its log that the scope allows, in order', async () => {
    const p = publisher();
    const stream = checkpointStream(p.service, { sourceAppId: null, allowed: (app) => app !== 'secret', maxBuffered: 10 });
    p.publish('a', 1);
    p.publish('secret', 1);
    p.publish('b', 2);
    expect((await stream.next()).value?.checkpoint).toMatchObject({ sourceAppId: 'a', treeSize: 1 });
    expect((await stream.next()).value?.checkpoint).toMatchObject({ sourceAppId: 'b', treeSize: 2 });
    const one = checkpointStream(p.service, { sourceAppId: 'b', maxBuffered: 10 });
    p.publish('a', 3);
    p.publish('b', 4);
    expect((await one.next()).value?.checkpoint).toMatchObject({ sourceAppId: 'b', treeSize: 4 });
    await Promise.all([stream.return!(), one.return!()]);
    expect(p.listeners).toBe(0);
  });

  it('ends a waiting subscription at once when completed, dropping its listener', async () => {
    const p = publisher();
    const ends: string[] = [];
    const stream = checkpointStream(p.service, { sourceAppId: 'quiet', maxBuffered: 10, onEnd: (r) => ends.push(r) });
    const waiting = stream.next();
    await stream.return!();
    expect(await waiting).toEqual({ done: true, value: undefined });
    expect(p.listeners).toBe(0);
    expect(ends).toEqual(['done']);
  });

  it('tells a subscriber that fell too far behind to resume', async () => {
    const p = publisher();
    const ends: string[] = [];
    const stream = checkpointStream(p.service, { sourceAppId: null, maxBuffered: 3, onEnd: (r) => ends.push(r) });
    for (let i = 1; i <= 4; i++) p.publish('a', i);
    const err = await stream.next().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).code).toBe('RESUME_REQUIRED');
    expect(ends).toEqual(['resume']);
    expect(p.listeners).toBe(0);
    expect(await stream.next()).toEqual({ done: true, value: undefined });
  });
});
