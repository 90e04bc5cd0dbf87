// Group commit of single appends: concurrent one-event requests share one storage call, and that call's
// failure is each of theirs. Runs on both engines.
import { afterEach, describe, expect, it } from 'vitest';
import { Sequencer } from '../../src/log/sequencer.js';
import type { LogStorage, NewEvent, StoredEvent } from '../../src/storage/types.js';
import type { StorageHarness } from '../storage/contract.js';
import { event } from '../support/pipeline.js';
import { deferred } from '../support/wait.js';
import { useEngines } from './engines.js';

const engines = useEngines('chainlog-group-commit-');

describe.each(engines)('group commit of single appends: $name', (engine) => {
  let harness: StorageHarness | undefined;
  afterEach(async () => {
    await harness?.storage.close();
    await harness?.cleanup();
    harness = undefined;
  });

  /** The store, its appendEvents calls' sizes, and a hold on the first call; the second call fails with `failure`. */
  async function store(failure: Error) {
    harness = engine.harness();
    const s: LogStorage = harness.storage;
    await s.init();
    const original = s.appendEvents.bind(s);
    const sizes: number[] = [];
    const hold = deferred();
    const firstBegan = deferred();
    s.appendEvents = async (events: NewEvent[], ...rest: unknown[]) => {
      sizes.push(events.length);
      if (sizes.length === 1) {
        firstBegan.resolve();
        await hold.promise;
      }
      if (sizes.length === 2) throw failure;
      return (original as (e: NewEvent[], ...r: unknown[]) => Promise<StoredEvent[]>)(events, ...rest);
    };
    return { s, sizes, hold, firstBegan: firstBegan.promise };
  }

  it('fails every request of a group whose storage call fails, with that error, and writes none of them', async () => {
    const { s, sizes, hold, firstBegan } = await store(new Error('disk full'));
    const committed: StoredEvent[] = [];
    const seq = new Sequencer(s, (events) => committed.push(...events));
    const first = seq.append([event('g')]);
    await firstBegan; // the first group is in the engine: the next requests queue up behind it
    const group = Array.from({ length: 20 }, () => seq.append([event('g')]));
    const outcomes = Promise.allSettled(group);
    hold.resolve();
    const [e0] = await first;
    const settled = await outcomes;
    // The 20 single requests went to storage in one call, which failed: each of them is refused with its error.
    expect(sizes[1]).toBe(20);
    expect(settled.map((o) => o.status)).toEqual(Array(20).fill('rejected'));
    for (const o of settled) expect((o as PromiseRejectedResult).reason).toMatchObject({ message: 'disk full' });
    expect(e0!.seq).toBe(0);
    expect(committed.map((e) => e.seq)).toEqual([0]);
    expect((await s.getLogHead('g'))!.size).toBe(1);
    // The log continues from what is stored: the next append is at seq 1, linked to the first event.
    const [next] = await seq.append([event('g')]);
    expect(next!.seq).toBe(1);
    expect(next!.prevHash).toBe(e0!.hash);
  });
});
