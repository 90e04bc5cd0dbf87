// A subscriber's buffered events lose their payloads when they are erased before delivery (real
// pipeline, SQLite in a temp dir, leaf version 2).
import { afterEach, expect, it } from 'vitest';
import { CommittedEventStream } from '../../../src/api/subscriptions/event-stream.js';
import { event, openPipeline, type TestPipeline } from '../../support/pipeline.js';
import { until } from '../../support/wait.js';

let p: TestPipeline;
let stream: CommittedEventStream | undefined;
afterEach(async () => {
  await stream?.return();
  await p?.destroy();
});

it('delivers an event erased while it waited in the buffer in its erased form', async () => {
  p = await openPipeline(undefined, { leafVersion: 2 });
  stream = new CommittedEventStream(p.service, { filter: { sourceAppIds: ['buf'] }, maxBuffered: 100, replayPageSize: 50 }).start(
    null,
  );
  // Committed while the subscriber is not reading: held in its buffer.
  const stored = await p.service.append([
    event('buf', { payload: { userId: 'u42' } }),
    event('buf', { payload: { userId: 'u7' } }),
  ]);
  const r = await p.service.eraseEvents({
    selection: { kind: 'ids', ids: [{ sourceAppId: 'buf', seq: stored[0]!.seq }] },
    reason: 'gone',
    by: 'k',
  });
  expect(r.erased).toBe(1);
  const first = await stream.next();
  const second = await stream.next();
  expect(first.value).toMatchObject({
    seq: stored[0]!.seq,
    payload: null,
    payloadSalt: null,
    erasureReason: 'gone',
    hash: stored[0]!.hash,
  });
  expect(second.value).toMatchObject({ seq: stored[1]!.seq, payload: { userId: 'u7' } });
  // The events the pipeline handed out are not changed in place; the buffer holds an erased copy.
  expect(stored[0]!.payload).toEqual({ userId: 'u42' });
});

it('delivers erased an event whose replay read was in flight when the erasure was announced', async () => {
  p = await openPipeline(undefined, { leafVersion: 2 });
  const stored = await p.service.append([
    event('replay', { payload: { userId: 'u1' } }),
    event('replay', { payload: { userId: 'u2' } }),
  ]);
  // The replay's read returns what storage held before the erasure, and only once the erasure is announced.
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let reads = 0;
  const feed = new Proxy(p.service, {
    get(target, key) {
      if (key === 'readCommitted') {
        return async (...args: Parameters<typeof target.readCommitted>) => {
          const page = await target.readCommitted(...args);
          if (reads++ === 0) await released;
          return page;
        };
      }
      const value = Reflect.get(target, key, target) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  stream = new CommittedEventStream(feed, { filter: { sourceAppIds: ['replay'] }, maxBuffered: 100, replayPageSize: 50 }).start(
    stored[0]!,
    true,
  );
  const first = stream.next();
  await until('the replay read to be made', () => reads === 1);
  const r = await p.service.eraseEvents({
    selection: { kind: 'ids', ids: [{ sourceAppId: 'replay', seq: stored[0]!.seq }] },
    reason: 'gone',
    by: 'k',
  });
  expect(r.erased).toBe(1);
  release();
  expect((await first).value).toMatchObject({ seq: stored[0]!.seq, payload: null, payloadSalt: null, erasureReason: 'gone' });
  expect((await stream.next()).value).toMatchObject({ seq: stored[1]!.seq, payload: { userId: 'u2' } });
});
