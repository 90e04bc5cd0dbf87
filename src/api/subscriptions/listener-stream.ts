// A subscription fed by a listener (checkpoints published, inconsistencies recorded), bounded for slow
// consumers: items past `maxBuffered` end the stream with RESUME_REQUIRED. An iterator rather than an
// async generator: return() ends the stream (and drops its listener) at once, even while a next()
// waits for an item that may never come.
import { ApiError } from '../errors.js';

export interface ListenerStreamOptions<T> {
  /** Registers the listener; returns its removal. */
  listen: (listener: (item: T) => void) => () => void;
  /** Which items to deliver (the subscription's filter and the key's scope together). */
  matches: (item: T) => boolean;
  maxBuffered: number;
  /** The RESUME_REQUIRED message: what the subscriber fell behind on and how to catch up. */
  overflowMessage: string;
  onEnd?: (reason: 'done' | 'resume') => void;
}

export function listenerStream<T>(opts: ListenerStreamOptions<T>): AsyncIterableIterator<T> {
  let queue: T[] = [];
  let overflowed = false;
  let ended = false;
  let wake: (() => void) | null = null;
  const notify = () => {
    const w = wake;
    wake = null;
    w?.();
  };
  const unsubscribe = opts.listen((item) => {
    if (ended || overflowed || !opts.matches(item)) return;
    queue.push(item);
    if (queue.length > opts.maxBuffered) overflowed = true;
    notify();
  });
  const end = (reason: 'done' | 'resume') => {
    if (ended) return;
    ended = true;
    unsubscribe();
    queue = [];
    notify();
    opts.onEnd?.(reason);
  };
  const done = { done: true, value: undefined } as const;
  return {
    async next() {
      while (!ended) {
        if (overflowed) {
          end('resume');
          throw new ApiError('RESUME_REQUIRED', opts.overflowMessage, { extra: { after: null } });
        }
        if (queue.length > 0) return { done: false, value: queue.shift()! };
        await new Promise<void>((resolve) => (wake = resolve));
      }
      return done;
    },
    async return() {
      end('done');
      return done;
    },
    async throw(err: unknown) {
      end('done');
      throw err;
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}
