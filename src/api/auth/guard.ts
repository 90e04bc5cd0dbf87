// Long-lived subscriptions re-check their key: once it is revoked, the stream ends with UNAUTHENTICATED
// within the authenticator's cache TTL.
import { ApiError } from '../errors.js';

export function guardStream<T>(
  source: AsyncIterator<T> & Partial<AsyncIterable<T>>,
  stillValid: () => Promise<boolean>,
  intervalMs: number,
): AsyncIterableIterator<T> {
  let revokedBy: ApiError | null = null;
  // Rejects the next() in progress on revocation. One per call: a race against one long-lived promise
  // would add a reaction to it per event, keeping every delivered event alive as long as the stream.
  let interrupt: ((err: ApiError) => void) | null = null;
  let stopped = false;
  const timer = setInterval(() => {
    stillValid().then(
      (ok) => {
        if (ok || stopped || revokedBy) return;
        revokedBy = new ApiError('UNAUTHENTICATED', 'the API key of this subscription was revoked', { rule: 'revoked' });
        interrupt?.(revokedBy);
      },
      () => undefined,
    );
  }, intervalMs);
  timer.unref();
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    clearInterval(timer);
    await source.return?.();
  };
  return {
    [Symbol.asyncIterator]() {
      return this;
    },
    async next() {
      if (stopped) return { done: true, value: undefined };
      try {
        if (revokedBy) throw revokedBy;
        const pending = source.next();
        const result = await new Promise<IteratorResult<T>>((resolve, reject) => {
          interrupt = reject;
          pending.then(resolve, reject);
        });
        interrupt = null;
        if (result.done) await stop();
        return result;
      } catch (err) {
        interrupt = null;
        await stop();
        throw err;
      }
    },
    async return() {
      await stop();
      return { done: true, value: undefined };
    },
    async throw(err: unknown) {
      await stop();
      throw err;
    },
  };
}
