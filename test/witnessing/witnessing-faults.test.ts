// Witnessing's failure paths after a witness has answered, on both engines: a store of the quorum's
// cosignatures that fails is tried again until the idle log's checkpoint is witnessed; a witness whose
// 409 names a size the log never reached is an error in its health and is asked again with the next
// checkpoint; a policy reload whose quorum the cosignatures already gathered make stores them, and one
// that leaves a quorum stored before reads no note again; a look
// for unwitnessed checkpoints that the storage failed is tried again. Real
// HTTP witnesses (test/support/hostile-witness.ts), the real publisher, faults injected at the storage.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ChainlogService } from '../../src/log/chainlog-service.js';
import type { LogStorage } from '../../src/storage/types.js';
import { Witnessing } from '../../src/witnessing/witnessing.js';
import { useEngines } from '../log/engines.js';
import type { StorageHarness } from '../storage/contract.js';
import { withFaults } from '../support/faulty-storage.js';
import { HostileWitness } from '../support/hostile-witness.js';
import { event } from '../support/pipeline.js';
import { publishingService } from '../support/publishing.js';
import { until } from '../support/wait.js';

const engines = useEngines('chainlog-witnessing-faults-');

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'chainlog-witnessing-faults-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.each(engines)('witnessing after the witnesses answered: $name', (engine) => {
  let harness: StorageHarness;
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
    await harness?.cleanup();
  });

  /** The log's service publishing eagerly, and Witnessing over `storage` (the log's own, or a faulty view of it). */
  async function start(policy: string, storage?: (s: LogStorage) => LogStorage, before?: (s: LogStorage) => Promise<void>) {
    harness = engine.harness();
    await before?.(harness.storage);
    const service: ChainlogService = await publishingService(harness.storage, { keyDir: dir, intervalMs: 600_000, minGapMs: 20 });
    const policyFile = join(dir, `policy-${engine.name}-${Math.random().toString(36).slice(2)}`);
    writeFileSync(policyFile, policy);
    const lines: string[] = [];
    const witnessing = new Witnessing({
      service,
      storage: storage ? storage(harness.storage) : harness.storage,
      policyFile,
      requestTimeoutMs: 5_000,
      maxBackoffMs: 200,
      logger: pino({ level: 'debug' }, { write: (line: string) => void lines.push(line) }),
    });
    cleanups.push(
      () => service.stop(),
      () => witnessing.stop(),
    );
    await service.start();
    const witnessed = async (app: string, size: number) => {
      const cp = await service.getCheckpoint(app);
      return cp !== null && cp.treeSize === size && witnessing.inspect(cp).witnessed;
    };
    return { service, witnessing, policyFile, lines, witnessed };
  }

  /** A `before` for start(): another service on the store appends `events` and publishes `app` up to `size`, then stops. */
  function publishedBefore(events: Parameters<ChainlogService['append']>[0], app: string, size: number) {
    return async (storage: LogStorage) => {
      const earlier = await publishingService(storage, { keyDir: dir, intervalMs: 600_000, minGapMs: 20 });
      await earlier.start();
      await earlier.append(events);
      await until(`${app} published at ${size}`, async () => (await earlier.getCheckpoint(app))?.treeSize === size);
      await earlier.stop();
    };
  }

  async function witnesses(...names: string[]): Promise<HostileWitness[]> {
    const all = names.map((n) => new HostileWitness(`witness.test/${n}`));
    for (const w of all) {
      await w.start();
      cleanups.push(() => w.stop());
    }
    return all;
  }

  it("tries a failed store of the quorum's cosignatures again: the idle log's checkpoint is witnessed", async () => {
    const [w] = await witnesses('w');
    let faults!: ReturnType<typeof withFaults>;
    const { service, lines, witnessed } = await start(`witness w ${w!.vkey} ${w!.url}\nquorum w\n`, (s) => {
      faults = withFaults(s, { seed: 7, failRate: 1, methods: ['replaceCheckpointNote'], maxFaults: 1 });
      return faults.storage;
    });
    await service.append([event('store'), event('store')]);
    await until('the store failed once', () => faults.injected.length === 1);
    // No event follows: only the retry can store what the witness cosigned.
    await until('checkpoint 2 witnessed', () => witnessed('store', 2));
    expect(w!.requests).toHaveLength(1);
    expect(lines.filter((l) => l.includes('cosigned checkpoint not stored (retried with backoff)'))).toHaveLength(1);
  });

  it('takes a 409 naming a size the log never reached as an error in the health, and asks again with the next checkpoint', async () => {
    const [w] = await witnesses('w');
    w!.mode = { kind: 'conflict-then-cosign', size: 1000 };
    const { service, witnessing, lines } = await start(`witness w ${w!.vkey} ${w!.url}\nquorum w\n`);
    const lastError = () => witnessing.health()[0]!.lastError ?? '';
    await service.append([event('ahead'), event('ahead')]);
    await until('the error in the health', () => lastError().startsWith('ahead size 2: the witness holds size 1000'));
    expect(lastError()).toMatch(/larger than any checkpoint it published \(latest 2\): the log was rolled back or forked/);
    expect(lines.some((l) => l.includes('"level":50') && l.includes('the witness holds size 1000'))).toBe(true);
    expect(witnessing.health()[0]!.lag).toBe(2);
    const asked = w!.requests.length;
    await service.append([event('ahead')]);
    await until('the next checkpoint asked with no size remembered', () =>
      w!.requests.slice(asked).some((r) => r.note.split('\n')[1] === '3' && r.oldSize === 0),
    );
    await until('its error', () => lastError().startsWith('ahead size 3: the witness holds size 1000'));
  });

  it("submits a newer checkpoint another publisher left unwitnessed, past this process's older gathering of the log", async () => {
    const [w] = await witnesses('w');
    w!.mode = { kind: 'status', status: 503 };
    const { service, witnessing, witnessed } = await start(`witness w ${w!.vkey} ${w!.url}\nquorum w\n`);
    await service.append([event('handover'), event('handover')]);
    await until('checkpoint 2 submitted', () => w!.requests.some((r) => r.note.split('\n')[1] === '2'));
    // Another publisher (a second service on the same store, whose checkpoints this Witnessing never
    // hears of) publishes checkpoint 3; then this process publishes again and looks for unwitnessed ones.
    await service.stop();
    const other = await publishingService(harness.storage, { keyDir: dir, intervalMs: 600_000, minGapMs: 20 });
    cleanups.push(() => other.stop());
    await other.start();
    await other.append([event('handover')]);
    await until('checkpoint 3 published', async () => (await other.getCheckpoint('handover'))?.treeSize === 3);
    w!.mode = { kind: 'cosign' };
    await witnessing.submitUnwitnessed();
    await until('checkpoint 3 witnessed', () => witnessed('handover', 3));
  });

  it('looks for unwitnessed checkpoints again when the storage fails the look: the idle log is witnessed', async () => {
    const [w] = await witnesses('w');
    let faults!: ReturnType<typeof withFaults>;
    // Published before this process's Witnessing existed (as before a restart), never submitted.
    const publishEarlier = publishedBefore([event('idle'), event('idle')], 'idle', 2);
    const policy = `witness w ${w!.vkey} ${w!.url}\nquorum w\n`;
    const { witnessing, lines, witnessed } = await start(
      policy,
      (s) => {
        faults = withFaults(s, { seed: 3, failRate: 1, methods: ['listLogHeads'], maxFaults: 2 });
        return faults.storage;
      },
      publishEarlier,
    );
    expect(await witnessed('idle', 2)).toBe(false);
    await witnessing.submitUnwitnessed();
    expect(faults.injected).toHaveLength(2);
    expect(lines.filter((l) => l.includes('unwitnessed checkpoints not looked for (retried with backoff)'))).toHaveLength(2);
    await until('checkpoint 2 witnessed', () => witnessed('idle', 2));
    expect(w!.requests).toHaveLength(1);
  });

  it('submits the other logs of a look in which one log always fails', async () => {
    const [w] = await witnesses('w');
    const publishEarlier = publishedBefore([event('a-broken'), event('b-idle')], 'b-idle', 1);
    const { witnessing, witnessed } = await start(
      `witness w ${w!.vkey} ${w!.url}\nquorum w\n`,
      (s) =>
        withFaults(s, { seed: 4, failRate: 1, methods: ['getCheckpoint'], when: (_m, args) => args[0] === 'a-broken' }).storage,
      publishEarlier,
    );
    // The look never completes ("a-broken" cannot be read); the log after it is submitted all the same.
    void witnessing.submitUnwitnessed();
    await until('"b-idle" witnessed', () => witnessed('b-idle', 1));
  });

  it('stores the cosignatures gathered when a reload leaves a quorum they make', async () => {
    const [a, b] = await witnesses('a', 'b');
    b!.mode = { kind: 'status', status: 503 };
    const both = `witness a ${a!.vkey} ${a!.url}\nwitness b ${b!.vkey} ${b!.url}\ngroup ab all a b\nquorum ab\n`;
    const { service, witnessing, policyFile, witnessed } = await start(both);
    await service.append([event('reload'), event('reload')]);
    await until('b failed', () => (witnessing.health().find((h) => h.name === 'b')!.lastError ?? '').startsWith('reload size 2'));
    await until('a cosigned', () => witnessing.health().find((h) => h.name === 'a')!.lastSuccessAt !== null);
    expect(await witnessed('reload', 2)).toBe(false);
    writeFileSync(policyFile, `witness a ${a!.vkey} ${a!.url}\nquorum a\n`);
    expect(witnessing.reload()).toBe(true);
    await until('checkpoint 2 witnessed under the new quorum', () => witnessed('reload', 2));
    // From the cosignature gathered before the reload: a was not asked again.
    expect(a!.requests).toHaveLength(1);
  });

  it('reads no stored note again at a reload for cosignatures that made the quorum before it', async () => {
    const [a] = await witnesses('a');
    const policy = `witness a ${a!.vkey} ${a!.url}\nquorum a\n`;
    const reads: string[] = [];
    const counted = (s: LogStorage) =>
      new Proxy(s, {
        get(target, prop, receiver) {
          const value = Reflect.get(target, prop, receiver) as unknown;
          if (typeof value !== 'function') return value;
          if (prop !== 'getCheckpoint') return (value as (...a: unknown[]) => unknown).bind(target);
          return (app: string, size?: number) => {
            reads.push(`${app}/${size}`);
            return (value as (a: string, n?: number) => unknown).call(target, app, size);
          };
        },
      });
    const { service, witnessing, policyFile, witnessed } = await start(policy, counted);
    await service.append([event('kept'), event('kept')]);
    await until('checkpoint 2 witnessed', () => witnessed('kept', 2));
    expect(reads).toContain('kept/2');
    reads.length = 0;
    writeFileSync(policyFile, `${policy}# reloaded\n`);
    expect(witnessing.reload()).toBe(true);
    // A store the reload started would read the note at once; the next checkpoint's is read after it.
    await service.append([event('kept')]);
    await until('checkpoint 3 witnessed', () => witnessed('kept', 3));
    expect(reads).toContain('kept/3');
    expect(reads).not.toContain('kept/2');
  });
});
