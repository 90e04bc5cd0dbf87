// inconsistencyDetected: the records this process adds, as they are added, bounded for slow consumers.
// An iterator rather than an async generator: return() ends the stream (and drops its listener) at
// once, even while a next() waits for an inconsistency that may never come.
import type { InconsistencyListener } from '../../inconsistency/reporter.js';
import type { InconsistencyRecord } from '../../storage/inconsistency-store.js';
import { ApiError } from '../errors.js';

export interface InconsistencyStreamOptions {
  /** Which records to deliver (filter and the key's scope together). */
  matches: (record: InconsistencyRecord) => boolean;
  maxBuffered: number;
  onEnd?: (reason: 'done' | 'resume') => void;
}

export function inconsistencyStream(
  source: { onRecorded(listener: InconsistencyListener): () => void },
  opts: InconsistencyStreamOptions,
): AsyncIterableIterator<InconsistencyRecord> {
  let queue: InconsistencyRecord[] = [];
  let overflowed = false;
  let ended = false;
  let wake: (() => void) | null = null;
  const notify = () => {
    const w = wake;
    wake = null;
    w?.();
  };
  const unsubscribe = source.onRecorded((record) => {
    if (ended || overflowed || !opts.matches(record)) return;
    queue.push(record);
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
          throw new ApiError(
            'RESUME_REQUIRED',
            `subscriber fell more than ${opts.maxBuffered} inconsistencies behind; list them with the inconsistencies query and resubscribe`,
            { extra: { after: null } },
          );
        }
        const record = queue.shift();
        if (record) return { done: false, value: record };
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
