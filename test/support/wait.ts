// Waiting on a signal instead of for a fixed time: a condition polled until it holds (with a deadline, so
// a signal that never comes fails the test with what was awaited), and a promise a test resolves itself.
import { vi } from 'vitest';

export interface UntilOptions {
  /** How long the condition may take to hold. */
  timeoutMs?: number;
  /** How often it is checked. */
  intervalMs?: number;
}

/**
 * Resolves with the condition's first truthy value; rejects after the deadline naming `what` was awaited
 * (and the last value, or the error the last check threw).
 */
export async function until<T>(what: string, check: () => T | Promise<T>, opts: UntilOptions = {}): Promise<NonNullable<T>> {
  return vi.waitFor(
    async () => {
      const value = await check();
      if (!value) throw new Error(`timed out waiting for ${what} (last: ${JSON.stringify(value)})`);
      return value;
    },
    { timeout: opts.timeoutMs ?? 10_000, interval: opts.intervalMs ?? 20 },
  );
}

export interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(reason: unknown): void;
}

/** A promise and its resolvers (Promise.withResolvers, which Node 20 lacks). */
export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (reason: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
