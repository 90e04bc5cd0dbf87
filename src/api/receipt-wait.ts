// Waiting for receipts after an append (logEvent/logEvents with waitForReceipt, POST /v1/events?wait=receipt):
// bounded by RECEIPT_WAIT_TIMEOUT_MS, after which the events are answered with PENDING receipts. The
// events are committed either way, so the answer is never an error a client would resend them for.
import { asReplay, isReplay } from '../log/replays.js';
import { awaitReceipts, type ReceiptResult } from '../log/receipts.js';
import type { StoredEvent } from '../storage/types.js';
import type { ApiDeps } from './context.js';

const receipts = new WeakMap<StoredEvent, ReceiptResult>();

/** The receipt an append waited for, or null (the event was not answered by such an append). */
export const waitedReceiptOf = (event: StoredEvent): ReceiptResult | null => receipts.get(event) ?? null;

/** Copies of `events` that carry their receipts (waitedReceiptOf), once ready or when the wait is over. */
export async function withReceipts(deps: Pick<ApiDeps, 'service' | 'config'>, events: StoredEvent[]): Promise<StoredEvent[]> {
  const ready = await awaitReceipts(
    deps.service,
    events,
    deps.config.RECEIPT_WAIT_TIMEOUT_MS,
    // Checkpoints published by another process sharing the database are seen by reading them.
    deps.config.CHECKPOINT_INTERVAL_MS,
  );
  return events.map((e, i) => {
    // The append's objects may be shared with other callers: the receipt goes on a copy.
    const copy = isReplay(e) ? asReplay(e) : { ...e };
    receipts.set(copy, ready[i]!);
    return copy;
  });
}
