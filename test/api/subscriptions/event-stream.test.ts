// The subscription stream against the real pipeline (SQLite in a temp dir): replay, live, overflow.
import { afterEach, describe, expect, it } from 'vitest';
import { ApiError } from '../../../src/api/errors.js';
import { CommittedEventStream, type EventStreamOptions } from '../../../src/api/subscriptions/event-stream.js';
import { parseResumePoint } from '../../../src/api/validation/query-args.js';
import type { StoredEvent } from '../../../src/storage/types.js';
import { event, openPipeline, type TestPipeline } from '../../support/pipeline.js';

let p: TestPipeline;
const streams: CommittedEventStream[] = [];
afterEach(async () => {
  await Promise.all(streams.splice(0).map((s) => s.return()));
  await p?.destroy();
});

function open(opts: Partial<EventStreamOptions> = {}): CommittedEventStream {
  const stream = new CommittedEventStream(p.service, { filter: {}, maxBuffered: 10_000, replayPageSize: 50, ...opts });
  streams.push(stream);
  return stream;
}

/** The next n events; fails rather than hangs when they never come. */
async function take(stream: CommittedEventStream, n: number, timeoutMs = 5_000): Promise<StoredEvent[]> {
  const out: StoredEvent[] = [];
  const deadline = Date.now() + timeoutMs;
  while (out.length < n) {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`got ${out.length} of ${n} events`)), Math.max(0, deadline - Date.now()));
    });
    const r = await Promise.race([stream.next(), timeout]).finally(() => clearTimeout(timer));
    if (r.done) break;
    out.push(r.value);
  }
  return out;
}

const appendMany = async (app: string, n: number) => {
  const out: StoredEvent[] = [];
  for (let i = 0; i < n; i += 100)
    out.push(...(await p.service.append(Array.from({ length: Math.min(100, n - i) }, () => event(app)))));
  return out;
};

const ids = (events: StoredEvent[]) => events.map((e) => `${e.sourceAppId}/${e.seq}`);

describe('eventLogged stream', () => {
  it('replays after a known event, then goes live, with events arriving during the replay: no gap, no duplicate', async () => {
    p = await openPipeline();
    const before = await appendMany('a', 230);
    const stream = open().start(before[9]!);
    const got = await take(stream, 60); // mid-replay
    // Commits during the replay: some land in storage before the replay reaches them, all reach the buffer.
    const during = [...(await appendMany('b', 40)), ...(await appendMany('a', 15))];
    got.push(...(await take(stream, 230 - 10 - 60 + 55)));
    const live = appendMany('c', 5);
    got.push(...(await take(stream, 5)));
    const expected = [...before.slice(10), ...during, ...(await live)];
    expect(ids(got)).toEqual(ids(expected));
    expect(got.map((e) => e.pos)).toEqual([...got.map((e) => e.pos)].sort((x, y) => x - y));
  });

  it('applies the filter to replayed and live events alike', async () => {
    p = await openPipeline();
    const [first] = await p.service.append([event('x')]);
    await p.service.append([event('y'), event('x', { eventType: 'order.paid' }), event('y')]);
    const stream = open({ filter: { sourceAppIds: ['x'], eventTypes: ['order.paid'] } }).start(first!);
    const live = p.service.append([event('y', { eventType: 'order.paid' }), event('x', { eventType: 'order.paid' }), event('x')]);
    const got = await take(stream, 2);
    await live;
    expect(got.map((e) => [e.sourceAppId, e.seq, e.eventType])).toEqual([
      ['x', 1, 'order.paid'],
      ['x', 2, 'order.paid'],
    ]);
  });

  it('without after, starts live from now', async () => {
    p = await openPipeline();
    await p.service.append([event('a')]);
    const stream = open().start(null);
    const pending = take(stream, 2);
    const added = await p.service.append([event('a'), event('b')]);
    expect(ids(await pending)).toEqual(ids(added));
  });

  it('keeps memory bounded during a long replay by re-reading storage instead of buffering', async () => {
    p = await openPipeline();
    const before = await appendMany('a', 100);
    const stream = open({ maxBuffered: 5, replayPageSize: 20 }).start(before[0]!);
    const got = await take(stream, 30);
    const during = await appendMany('b', 50); // overflows the buffer of 5 while replaying
    got.push(...(await take(stream, 99 - 30 + 50)));
    const live = await p.service.append([event('c')]);
    got.push(...(await take(stream, 1)));
    expect(ids(got)).toEqual(ids([...before.slice(1), ...during, ...live]));
  });

  it('re-reads storage when the buffer overflowed while the last replay read was in flight', async () => {
    p = await openPipeline();
    const [first] = await p.service.append([event('a')]);
    let burst: StoredEvent[] = [];
    // The real service, with a burst committed right after the replay's (short) read took its snapshot.
    const feed = {
      onCommitted: p.service.onCommitted.bind(p.service),
      readCommitted: async (...args: Parameters<typeof p.service.readCommitted>) => {
        const page = await p.service.readCommitted(...args);
        if (burst.length === 0) burst = await p.service.append(Array.from({ length: 10 }, () => event('b')));
        return page;
      },
    };
    const stream = new CommittedEventStream(feed, { filter: {}, maxBuffered: 5, replayPageSize: 50 }).start(first!);
    streams.push(stream);
    expect(ids(await take(stream, 10))).toEqual(ids(burst));
  });

  it('ends a slow live subscriber with RESUME_REQUIRED naming where to resume, and the resumed stream misses nothing', async () => {
    p = await openPipeline();
    const stream = open({ maxBuffered: 5 }).start(null);
    const first = await p.service.append([event('a')]);
    expect(ids(await take(stream, 1))).toEqual(ids(first));
    const burst = await appendMany('a', 8);
    const err = await stream.next().then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).extensions).toMatchObject({ code: 'RESUME_REQUIRED', after: 'a/0' });
    expect((await stream.next()).done).toBe(true);

    const resumed = open({ maxBuffered: 5 }).start(await p.service.getEvent('a', 0));
    expect(ids(await take(resumed, 8))).toEqual(ids(burst));
  });

  it("never names another log's event as the resume point of a stream of some logs (a key limited to them)", async () => {
    p = await openPipeline();
    const stream = open({ filter: { sourceAppIds: ['a'] }, maxBuffered: 5 }).start(null);
    const first = await p.service.append([event('a')]);
    expect(ids(await take(stream, 1))).toEqual(ids(first));
    // Committed while the stream is idle: an event of a log the subscriber may not read.
    await p.service.append([event('secret')]);
    const burst = await appendMany('a', 6);
    const err = await stream.next().then(
      () => null,
      (e: unknown) => e,
    );
    expect((err as ApiError).extensions).toMatchObject({ code: 'RESUME_REQUIRED', after: 'a/0' });
    const resumed = open({ filter: { sourceAppIds: ['a'] }, maxBuffered: 5 }).start(await p.service.getEvent('a', 0));
    expect(ids(await take(resumed, 6))).toEqual(ids(burst));
  });

  it("names the position before a log's first event when nothing was delivered, and resuming there misses nothing", async () => {
    p = await openPipeline();
    const stream = open({ maxBuffered: 5 }).start(null);
    const burst = await appendMany('a', 8);
    const err = await stream.next().then(
      () => null,
      (e: unknown) => e,
    );
    expect((err as ApiError).extensions).toMatchObject({ code: 'RESUME_REQUIRED', after: 'a/-1' });
    const point = parseResumePoint((err as ApiError).extensions.after as string);
    expect(point).toEqual({ sourceAppId: 'a', seq: 0, including: true });
    const resumed = open({ maxBuffered: 5 }).start(await p.service.getEvent('a', 0), point.including);
    expect(ids(await take(resumed, 8))).toEqual(ids(burst));
  });

  it('reads a resume point as an event id, or <log>/-1, and refuses anything else naming the field', () => {
    expect(parseResumePoint('a/3')).toEqual({ sourceAppId: 'a', seq: 3, including: false });
    expect(parseResumePoint('a.b/-1')).toEqual({ sourceAppId: 'a.b', seq: 0, including: true });
    for (const bad of ['a/-2', 'a/', '/-1', 'a/01']) {
      expect(() => parseResumePoint(bad)).toThrow(/after: must be an event id/);
    }
  });

  it('stops listening when the client goes away', async () => {
    p = await openPipeline();
    const ends: string[] = [];
    const stream = open({ onEnd: (r) => ends.push(r) }).start(null);
    const waiting = stream.next();
    await stream.return();
    expect((await waiting).done).toBe(true);
    await p.service.append([event('a')]);
    expect(ends).toEqual(['done']);
  });
});
