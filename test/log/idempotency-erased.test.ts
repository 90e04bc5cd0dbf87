// Idempotent retries of an event whose payload was erased, through the real pipeline on both engines.
// The erasure deletes the payload and its salt, so a retried payload cannot be checked against the
// kept payloadHash: a retry whose other fields match is answered as a replay of the event as it is now
// stored (erased), one whose other fields differ is still a CONFLICT.
import { describe, expect, it } from 'vitest';
import { LogError } from '../../src/log/errors.js';
import { isReplay } from '../../src/log/replays.js';
import type { AppendRequest } from '../../src/log/service.js';
import type { EnginePipeline } from '../support/pipeline.js';
import { useEngines } from './engines.js';
import { leafV2Pipelines } from './leaf-v2-pipelines.js';

const engines = useEngines('chainlog-idem-erased-');
const T0 = Date.UTC(2026, 0, 1);

const request = (over: Partial<AppendRequest> = {}): AppendRequest => ({
  sourceAppId: 'shop',
  eventType: 'order.placed',
  timestamp: T0,
  payload: { userId: 'u42', total: 12.5 },
  idempotencyKey: 'order-1',
  ...over,
});

async function conflictOf(p: Promise<unknown>): Promise<LogError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(LogError);
  expect((err as LogError).code).toBe('CONFLICT');
  expect((err as LogError).message).toMatch(/idempotency key "order-1" was already used with other content/);
  return err as LogError;
}

for (const engine of engines) {
  describe(`idempotent retry of an erased event (${engine.name})`, () => {
    const pipeline = leafV2Pipelines(engine);

    async function appendAndErase(p: EnginePipeline) {
      const [original] = await p.service.append([request()]);
      await p.service.append([request({ idempotencyKey: 'order-2', payload: { userId: 'u7' } })]);
      // Before the erasure the payload is compared as always.
      await conflictOf(p.service.append([request({ payload: { userId: 'u42', total: 99 } })]));
      const erased = await p.service.eraseEvents({
        selection: { kind: 'ids', ids: [{ sourceAppId: 'shop', seq: original!.seq }] },
        reason: 'gdpr request 7',
        by: 'k1',
      });
      expect(erased.erased).toBe(1);
      return original!;
    }

    it('answers a retry of the original request as a replay of the event as it is now stored', async () => {
      const { p } = await pipeline();
      const original = await appendAndErase(p);
      const [replay] = await p.service.append([request()]);
      expect(isReplay(replay!)).toBe(true);
      expect(replay!.seq).toBe(original.seq);
      expect(replay!.hash).toBe(original.hash);
      expect(replay!.payloadHash).toBe(original.payloadHash);
      // Nothing of the erased payload comes back: the answer is what a read of the event gives.
      expect(replay!.payload).toBeNull();
      expect(replay!.payloadSalt ?? null).toBeNull();
      expect(replay!.erasedAt).toEqual(expect.any(Number));
      expect(replay!.erasureReason).toBe('gdpr request 7');
      expect({ ...replay! }).toEqual({ ...(await p.service.getEvent('shop', original.seq))! });
      expect((await p.storage.getLogHead('shop'))!.size).toBe(2);
      expect((await p.service.verifyLog('shop')).ok).toBe(true);
    });

    it('answers the retry as a replay after a restart and within a request that also writes', async () => {
      const { p, restart } = await pipeline();
      const original = await appendAndErase(p);
      const q = await restart();
      const [replay, fresh, again] = await q.service.append([
        request(),
        request({ idempotencyKey: 'order-3', payload: { userId: 'u9' } }),
        request(),
      ]);
      expect(isReplay(replay!)).toBe(true);
      expect(replay!.seq).toBe(original.seq);
      expect(replay!.payload).toBeNull();
      expect(isReplay(fresh!)).toBe(false);
      expect(fresh!.seq).toBe(2);
      expect(isReplay(again!)).toBe(true);
      expect(again!.seq).toBe(original.seq);
      expect((await q.storage.getLogHead('shop'))!.size).toBe(3);
    });

    it('still refuses a retry whose fields other than the payload differ', async () => {
      const { p } = await pipeline();
      await appendAndErase(p);
      await conflictOf(p.service.append([request({ eventType: 'order.cancelled' })]));
      await conflictOf(p.service.append([request({ timestamp: T0 + 1 })]));
      expect((await p.storage.getLogHead('shop'))!.size).toBe(2);
    });

    it('cannot tell a retried payload from the erased one: the salt is gone, so it is not refused', async () => {
      const { p } = await pipeline();
      const original = await appendAndErase(p);
      const [replay] = await p.service.append([request({ payload: { userId: 'someone else' } })]);
      expect(isReplay(replay!)).toBe(true);
      expect(replay!.seq).toBe(original.seq);
      expect(replay!.payload).toBeNull();
      expect((await p.storage.getLogHead('shop'))!.size).toBe(2);
    });
  });
}
