// Receipts: an event's C2SP tlog-proof (c2sp.org/tlog-proof) against its log's latest checkpoint, and
// waiting, within a bound, for the checkpoint that makes an event's receipt ready.
import { formatTlogProof } from '../core/receipt.js';
import { fromHex } from '../core/hex.js';
import type { StoredCheckpoint, StoredEvent } from '../storage/types.js';
import type { LogService } from './service.js';

/**
 * READY: `proof` is the receipt, against `checkpoint`. PENDING: no checkpoint covers the event yet
 * (it is committed, and will be in the next checkpoint of its log).
 */
export type ReceiptResult =
  | { status: 'READY'; sourceAppId: string; seq: number; proof: string; checkpoint: StoredCheckpoint }
  | { status: 'PENDING'; sourceAppId: string; seq: number; proof: null; checkpoint: null };

type ReceiptService = Pick<LogService, 'getCheckpoint' | 'inclusionProof' | 'onCheckpoint'>;

const pending = (sourceAppId: string, seq: number): ReceiptResult => ({
  status: 'PENDING',
  sourceAppId,
  seq,
  proof: null,
  checkpoint: null,
});

/** The receipt of the event at `seq` of a log (the caller knows the event exists). */
export async function receiptOf(service: ReceiptService, sourceAppId: string, seq: number): Promise<ReceiptResult> {
  const latest = await service.getCheckpoint(sourceAppId);
  if (!latest || latest.treeSize <= seq) return pending(sourceAppId, seq);
  const inclusion = await service.inclusionProof(sourceAppId, seq, latest.treeSize);
  const proof = formatTlogProof({ index: seq, hashes: inclusion.hashes.map(fromHex), checkpoint: inclusion.checkpoint.note });
  return { status: 'READY', sourceAppId, seq, proof, checkpoint: inclusion.checkpoint };
}

/**
 * The receipts of `events`, once a checkpoint of each of their logs covers them or `timeoutMs` has
 * passed, whichever comes first; events not covered by then get PENDING receipts. Checkpoints this
 * process publishes are seen at once; those of processes sharing the database, by reading the latest
 * checkpoint every `pollMs`.
 */
export async function awaitReceipts(
  service: ReceiptService,
  events: readonly StoredEvent[],
  timeoutMs: number,
  pollMs: number,
): Promise<ReceiptResult[]> {
  const needed = new Map<string, number>();
  for (const e of events) needed.set(e.sourceAppId, Math.max(needed.get(e.sourceAppId) ?? 0, e.seq + 1));
  await coveredOrTimeout(service, needed, timeoutMs, pollMs);
  return Promise.all(events.map((e) => receiptOf(service, e.sourceAppId, e.seq)));
}

/** Resolves when every log of `needed` has a checkpoint of at least its size, or after timeoutMs. */
async function coveredOrTimeout(
  service: ReceiptService,
  needed: Map<string, number>,
  timeoutMs: number,
  pollMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let wake: (() => void) | null = null;
  const unsubscribe = service.onCheckpoint(({ checkpoint }) => {
    const size = needed.get(checkpoint.sourceAppId);
    if (size === undefined || checkpoint.treeSize < size) return;
    needed.delete(checkpoint.sourceAppId);
    if (needed.size === 0) wake?.();
  });
  try {
    for (;;) {
      for (const [app, size] of [...needed]) {
        const latest = await service.getCheckpoint(app);
        if (latest && latest.treeSize >= size) needed.delete(app);
      }
      const left = deadline - Date.now();
      if (needed.size === 0 || left <= 0) return;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, pollMs));
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = null;
    }
  } finally {
    unsubscribe();
  }
}
