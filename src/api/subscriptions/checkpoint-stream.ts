// checkpointPublished: live checkpoint updates, optionally of one log, bounded for slow consumers.
import type { CheckpointUpdate, LogService } from '../../log/service.js';
import { ApiError } from '../errors.js';

export interface CheckpointStreamOptions {
  sourceAppId: string | null;
  /** Applications the subscriber may see (its API key's scope); all when absent. */
  allowed?: (sourceAppId: string) => boolean;
  maxBuffered: number;
  onEnd?: (reason: 'done' | 'resume') => void;
}

export async function* checkpointStream(
  service: Pick<LogService, 'onCheckpoint'>,
  opts: CheckpointStreamOptions,
): AsyncGenerator<CheckpointUpdate> {
  const queue: CheckpointUpdate[] = [];
  let overflowed = false;
  let wake: (() => void) | null = null;
  const unsubscribe = service.onCheckpoint((update) => {
    if (overflowed || (opts.sourceAppId !== null && update.checkpoint.sourceAppId !== opts.sourceAppId)) return;
    if (opts.allowed && !opts.allowed(update.checkpoint.sourceAppId)) return;
    queue.push(update);
    if (queue.length > opts.maxBuffered) overflowed = true;
    wake?.();
  });
  let reason: 'done' | 'resume' = 'done';
  try {
    for (;;) {
      if (overflowed) {
        reason = 'resume';
        throw new ApiError(
          'RESUME_REQUIRED',
          `subscriber fell more than ${opts.maxBuffered} checkpoints behind; read the latest checkpoint and resubscribe`,
          { extra: { after: null } },
        );
      }
      const update = queue.shift();
      if (update) yield update;
      else await new Promise<void>((resolve) => (wake = resolve));
      wake = null;
    }
  } finally {
    unsubscribe();
    opts.onEnd?.(reason);
  }
}
