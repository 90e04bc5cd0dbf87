// checkpointPublished: live checkpoint updates, optionally of one log, bounded for slow consumers
// (listener-stream.ts).
import type { CheckpointUpdate, LogService } from '../../log/service.js';
import { listenerStream } from './listener-stream.js';

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
  return listenerStream<CheckpointUpdate>({
    listen: (listener) => service.onCheckpoint(listener),
    matches: ({ checkpoint: { sourceAppId } }) =>
      (opts.sourceAppId === null || sourceAppId === opts.sourceAppId) && (!opts.allowed || opts.allowed(sourceAppId)),
    maxBuffered: opts.maxBuffered,
    overflowMessage: `subscriber fell more than ${opts.maxBuffered} checkpoints behind; read the latest checkpoint and resubscribe`,
    ...(opts.onEnd && { onEnd: opts.onEnd }),
  });
}
