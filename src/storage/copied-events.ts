// Storing events that another server sequenced (a mirror's copy, src/mirror): the engines' shared
// implementation of LogStorage.appendCopied, on top of their own appendEvents and getEventRange.
import { AppendConflictError, type LogStorage, type NewEvent, type StoredEvent } from './types.js';

const HASH_HEX_RE = /^[0-9a-f]{64}$/;

/**
 * The contract of LogStorage.appendCopied. Events of one log must come in seq order without gaps;
 * one erased already (payload null, leaf version 2, erasedAt and erasureReason set) is stored erased;
 * each is either already stored exactly as given (an append repeated after a crash: skipped, and
 * returned as stored) or continues its log; anything else throws AppendConflictError('position')
 * having written nothing of that log's new events.
 */
export async function appendCopiedEvents(
  storage: Pick<LogStorage, 'appendEvents' | 'getEventRange' | 'getLogHead'>,
  events: NewEvent[],
): Promise<StoredEvent[]> {
  const byLog = new Map<string, NewEvent[]>();
  for (const e of events) {
    if (!HASH_HEX_RE.test(e.hash) || !HASH_HEX_RE.test(e.prevHash)) {
      // The engines store hashes as given (an empty one is refused by the SQLite writer): a copy must bring its own.
      throw new Error(
        `copied event ${JSON.stringify(e.sourceAppId)} at seq ${e.seq}: hash and prevHash must be 64 lowercase hex`,
      );
    }
    if ((e.payload === null) !== (e.erasedAt != null) || (e.payload === null && (!e.payloadHash || !e.erasureReason))) {
      // A copy without its payload is one erased on its primary: a version 2 event with when and why.
      throw new Error(
        `copied event ${JSON.stringify(e.sourceAppId)} at seq ${e.seq}: a payload is absent exactly when the event ` +
          'is erased (leaf version 2, with erasedAt and erasureReason)',
      );
    }
    const list = byLog.get(e.sourceAppId) ?? [];
    const last = list.at(-1);
    if (last && e.seq !== last.seq + 1) {
      throw new AppendConflictError(
        `copied events of ${JSON.stringify(e.sourceAppId)} are not consecutive at seq ${e.seq}`,
        'position',
      );
    }
    list.push(e);
    byLog.set(e.sourceAppId, list);
  }
  const result = new Map<NewEvent, StoredEvent>();
  const fresh: NewEvent[] = [];
  for (const [app, list] of byLog) {
    const first = list[0]!.seq;
    // Only positions below the log's size can hold an event already: the common case reads none.
    const size = (await storage.getLogHead(app))?.size ?? 0;
    const overlap = Math.max(0, Math.min(list.length, size - first));
    const stored = overlap === 0 ? [] : await storage.getEventRange(app, first, first + overlap, overlap);
    for (const [i, e] of list.entries()) {
      const have = stored[i];
      if (have === undefined) {
        fresh.push(...list.slice(i));
        break;
      }
      if (have.seq !== e.seq || !sameEvent(have, e)) {
        throw new AppendConflictError(`log ${JSON.stringify(app)} already holds a different event at seq ${e.seq}`, 'position');
      }
      result.set(e, have);
    }
  }
  const appended = await storage.appendEvents(fresh);
  fresh.forEach((e, i) => result.set(e, appended[i]!));
  return events.map((e) => result.get(e)!);
}

function sameEvent(a: StoredEvent, b: NewEvent): boolean {
  return a.hash === b.hash && a.prevHash === b.prevHash && a.receivedAt === b.receivedAt && a.timestamp === b.timestamp;
}
