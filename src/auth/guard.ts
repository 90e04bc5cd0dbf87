// Long-lived subscriptions re-check their key: once it is revoked, the stream ends with UNAUTHENTICATED
// within the authenticator's cache TTL.
import { ApiError } from '../api/errors.js';

export function guardStream<T>(
  source: AsyncIterator<T> & Partial<AsyncIterable<T>>,
  stillValid: () => Promise<boolean>,
  intervalMs: number,
): AsyncIterableIterator<T> {
  let revoked: ((err: ApiError) => void) | null = null;
  const revocation = new Promise<never>((_resolve, reject) => (revoked = reject));
  revocation.catch(() => undefined);
  let stopped = false;
  const timer = setInterval(() => {
    stillValid().then(
      (ok) => {
        if (!ok && !stopped) revoked?.(new ApiError('UNAUTHENTICATED', 'the API key of this subscription was revoked', { rule: 'revoked' }));
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
        const result = await Promise.race([source.next(), revocation]);
        if (result.done) await stop();
        return result;
      } catch (err) {
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
