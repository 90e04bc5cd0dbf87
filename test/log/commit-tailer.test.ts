// The commit tailer on its own, on both engines: from where it starts, it hands every committed event
// to its listener exactly once and in pos order, page after page; a read that fails is retried on the
// next poll without losing or repeating an event; once stopped it reads no more.
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CommitTailer } from '../../src/log/commit-tailer.js';
import type { LogStorage, StoredEvent } from '../../src/storage/types.js';
import type { StorageHarness } from '../storage/contract.js';
import { withFaults } from '../support/faulty-storage.js';
import { appendChain, useEngines } from './engines.js';

const engines = useEngines('chainlog-tailer-');
const INTERVAL_MS = 10;
const WAIT = { timeout: 20_000, interval: 10 };

/** A tailer and what it emitted, with the warnings it logged. */
function tail(storage: LogStorage) {
  const emitted: StoredEvent[][] = [];
  const warnings: string[] = [];
  const logger = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(line) });
  const tailer = new CommitTailer(storage, (events) => emitted.push(events), INTERVAL_MS, logger);
  return { tailer, emitted, warnings, events: () => emitted.flat() };
}

const ids = (events: readonly StoredEvent[]) => events.map((e) => `${e.sourceAppId}/${e.seq}`);

describe.each(engines)('commit tailer: $name', (engine) => {
  let harness: StorageHarness;
  const tailers: CommitTailer[] = [];

  async function store(): Promise<LogStorage> {
    harness = engine.harness();
    await harness.storage.init();
    return harness.storage;
  }

  afterEach(async () => {
    for (const t of tailers.splice(0)) t.stop();
    await harness?.storage.close().catch(() => undefined);
    await harness?.cleanup();
  });

  it('emits every event committed after it starts, once, in pos order, across pages', async () => {
    const storage = await store();
    await appendChain(storage, 'before', 3);
    const t = tail(storage);
    tailers.push(t.tailer);
    await t.tailer.start();

    const committed = [
      ...(await appendChain(storage, 'a', 700)),
      ...(await appendChain(storage, 'b', 700)),
      ...(await appendChain(storage, 'a', 5)),
    ];
    await vi.waitFor(() => expect(t.events()).toHaveLength(committed.length), WAIT);
    const seen = t.events();
    expect(ids(seen)).toEqual(ids(committed));
    for (let i = 1; i < seen.length; i++) expect(seen[i]!.pos).toBeGreaterThan(seen[i - 1]!.pos);
    expect(seen.some((e) => e.sourceAppId === 'before')).toBe(false);
    // More than one page (1000 events a read).
    expect(t.emitted.length).toBeGreaterThan(1);
  });

  it('retries a failed read on the next poll, losing and repeating nothing', async () => {
    const storage = await store();
    const faulty = withFaults(storage, { seed: 11, failRate: 1, methods: ['readCommitted'], maxFaults: 3 });
    faulty.enabled = false;
    const t = tail(faulty.storage);
    tailers.push(t.tailer);
    await t.tailer.start();
    faulty.enabled = true;

    const committed = [...(await appendChain(storage, 'a', 4)), ...(await appendChain(storage, 'b', 2))];
    await vi.waitFor(() => expect(t.events()).toHaveLength(committed.length), WAIT);
    expect(ids(t.events())).toEqual(ids(committed));
    expect(faulty.injected).toHaveLength(3);
    expect(t.warnings.filter((w) => w.includes('reading committed events failed'))).toHaveLength(3);

    const later = await appendChain(storage, 'a', 2);
    await vi.waitFor(() => expect(t.events()).toHaveLength(committed.length + later.length), WAIT);
    expect(ids(t.events())).toEqual(ids([...committed, ...later]));
  });

  it('reads nothing more once stopped', async () => {
    const storage = await store();
    const stopped = tail(storage);
    const control = tail(storage);
    tailers.push(stopped.tailer, control.tailer);
    await stopped.tailer.start();
    await control.tailer.start();
    const first = await appendChain(storage, 'a', 2);
    await vi.waitFor(() => expect(stopped.events()).toHaveLength(first.length), WAIT);
    stopped.tailer.stop();

    // The control polls on the same interval: once it has seen the next commit and then polled a few
    // more times, the stopped tailer has had as many chances to read it.
    const readCommitted = storage.readCommitted.bind(storage);
    let polls = 0;
    storage.readCommitted = (...args) => {
      polls++;
      return readCommitted(...args);
    };
    const second = await appendChain(storage, 'a', 2);
    await vi.waitFor(() => expect(control.events()).toHaveLength(first.length + second.length), WAIT);
    const pollsThen = polls;
    await vi.waitFor(() => expect(polls).toBeGreaterThanOrEqual(pollsThen + 3), WAIT);
    expect(stopped.events()).toHaveLength(first.length);
  });
});
