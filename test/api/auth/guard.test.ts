// guardStream: a subscription ends with UNAUTHENTICATED once its key is revoked, and holds on to nothing
// it has delivered.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { ApiError } from '../../../src/api/errors.js';
import { guardStream } from '../../../src/api/auth/guard.js';
import { until } from '../../support/wait.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** A source that yields what is pushed, and whose return() wakes a waiting next(), as our streams do. */
function pushSource<T>() {
  const queue: T[] = [];
  let wake: (() => void) | null = null;
  let ended = false;
  const source: AsyncIterator<T> = {
    async next() {
      while (!ended) {
        const value = queue.shift();
        if (value !== undefined) return { done: false, value };
        await new Promise<void>((resolve) => (wake = resolve));
      }
      return { done: true, value: undefined };
    },
    async return() {
      ended = true;
      wake?.();
      return { done: true, value: undefined };
    },
  };
  return {
    source,
    push: (v: T) => {
      queue.push(v);
      wake?.();
    },
    get ended() {
      return ended;
    },
  };
}

describe('guardStream', () => {
  it('passes values through while the key is valid and ends when the source ends', async () => {
    const s = pushSource<number>();
    const guarded = guardStream(s.source, async () => true, 10);
    s.push(1);
    s.push(2);
    expect(await guarded.next()).toEqual({ done: false, value: 1 });
    expect(await guarded.next()).toEqual({ done: false, value: 2 });
    await s.source.return!();
    expect(await guarded.next()).toEqual({ done: true, value: undefined });
  });

  it('ends a waiting subscription with UNAUTHENTICATED once the key is revoked, and closes its source', async () => {
    const s = pushSource<number>();
    let valid = true;
    const guarded = guardStream(s.source, async () => valid, 10);
    const waiting = guarded.next();
    valid = false;
    const err = await waiting.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).code).toBe('UNAUTHENTICATED');
    expect(s.ended).toBe(true);
    expect(await guarded.next()).toEqual({ done: true, value: undefined });
  });

  it('keeps no delivered value alive while the subscription stays open', async () => {
    const s = pushSource<{ big: Uint8Array }>();
    const guarded = guardStream(s.source, async () => true, 60_000);
    const refs: WeakRef<object>[] = [];
    for (let i = 0; i < 50; i++) {
      const value = { big: new Uint8Array(1024) };
      refs.push(new WeakRef(value));
      s.push(value);
      await guarded.next();
    }
    // Collect until the last value's promise chain has settled: at most one value (the last) stays alive.
    const alive = () => refs.filter((r) => r.deref() !== undefined).length;
    await until('the delivered values to be collected', () => (gc(), alive() <= 1), { timeoutMs: 2_000, intervalMs: 10 });
    expect(alive()).toBeLessThanOrEqual(1);
    await guarded.return!();
  });
});
