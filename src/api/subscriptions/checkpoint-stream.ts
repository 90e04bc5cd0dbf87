// checkpointPublished: live checkpoint updates, optionally of one log, bounded for slow consumers.
// An iterator rather than an async generator: return() must end the stream (and drop its listener) at
// once, even while a next() waits for a checkpoint of a log that may publish none for a long time.
import type { CheckpointUpdate, LogService } from '../../log/service.js';
import { ApiError } from '../errors.js';

export interface CheckpointStreamOptions {
  sourceAppId: string | null;
  /** Applications the subscriber may see (its API key's scope); all when absent. */
  allowed?: (sourceAppId: string) => boolean;
  maxBuffered: number;
  onEnd?: (reason: 'done' | 'resume') => void;
}

export function checkpointStream(
  service: Pick<LogService, 'onCheckpoint'>,
  opts: CheckpointStreamOptions,
): AsyncIterableIterator<CheckpointUpdate> {
  let queue: CheckpointUpdate[] = [];
  let overflowed = false;
  let ended = false;
  let wake: (() => void) | null = null;
  const notify = () => {
    const w = wake;
    wake = null;
    w?.();
  };
  const unsubscribe = service.onCheckpoint((update) => {
    if (ended || overflowed || (opts.sourceAppId !== null && update.checkpoint.sourceAppId !== opts.sourceAppId)) return;
    if (opts.allowed && !opts.allowed(update.checkpoint.sourceAppId)) return;
    queue.push(update);
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
            `subscriber fell more than ${opts.maxBuffered} checkpoints behind; read the latest checkpoint and resubscribe`,
            { extra: { after: null } },
          );
        }
        const update = queue.shift();
        if (update) return { done: false, value: update };
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
