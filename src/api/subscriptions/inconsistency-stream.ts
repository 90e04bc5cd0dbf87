// inconsistencyDetected: the records this process adds, as they are added, bounded for slow consumers
// (listener-stream.ts).
import type { InconsistencyListener } from '../../inconsistency/reporter.js';
import type { InconsistencyRecord } from '../../storage/inconsistency-store.js';
import { listenerStream } from './listener-stream.js';

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
  return listenerStream<InconsistencyRecord>({
    listen: (listener) => source.onRecorded(listener),
    matches: opts.matches,
    maxBuffered: opts.maxBuffered,
    overflowMessage: `subscriber fell more than ${opts.maxBuffered} inconsistencies behind; list them with the inconsistencies query and resubscribe`,
    ...(opts.onEnd && { onEnd: opts.onEnd }),
  });
}
