// Fault injection over the storage interface: a LogStorage that behaves like the one it wraps, except
// that its calls fail or are delayed as a seeded PRNG decides. Every injected failure happens before
// the call reaches the engine, so it is a failure the engine's contract allows ("throws, nothing
// written"): whatever the pipeline does next is the pipeline's own doing.
import { createRng, type Rng } from '../../src/simulator/prng.js';
import { AppendConflictError, LOG_STORAGE_CALLS, TurnLostError, type LogStorage } from '../../src/storage/types.js';

export type FaultKind = 'turnLost' | 'conflict' | 'transient' | 'delay';

/** A transient failure: what a dropped connection or a full disk looks like to the pipeline. */
export class InjectedFault extends Error {
  override name = 'InjectedFault';
}

export interface FaultOptions {
  seed: number;
  /** Chance that a call fails (transient everywhere; on appendEvents also a lost turn or a conflict). */
  failRate: number;
  /** Chance that a call that does not fail is delayed by a few event-loop turns or milliseconds. */
  delayRate?: number;
  /** Kinds allowed on appendEvents; default all three. */
  appendFaults?: ReadonlyArray<Exclude<FaultKind, 'delay'>>;
  /** Methods faults apply to; default every method of the interface. */
  methods?: ReadonlyArray<keyof LogStorage>;
  /** Calls that may fail or be delayed, by method and arguments (e.g. only one log's); default every call. */
  when?: (method: string, args: readonly unknown[]) => boolean;
  /** Failures to inject at most (then calls only pass or are delayed), so every run ends; default unbounded. */
  maxFaults?: number;
}

export interface FaultyStorage {
  storage: LogStorage;
  /** Every injected fault, in order: enough to tell what a failing seed did. */
  readonly injected: Array<{ method: string; kind: FaultKind }>;
  /** Turn injection on or off (off to set up or check the result through the same object). */
  enabled: boolean;
}

export function withFaults(target: LogStorage, opts: FaultOptions): FaultyStorage {
  const rng: Rng = createRng(opts.seed);
  const methods = new Set<PropertyKey>(opts.methods ?? LOG_STORAGE_CALLS);
  const appendFaults = opts.appendFaults ?? ['turnLost', 'conflict', 'transient'];
  const state: FaultyStorage = { storage: target, injected: [], enabled: true };
  let failures = 0;

  const decide = (method: string, args: readonly unknown[]): FaultKind | null => {
    if (!state.enabled || (opts.when && !opts.when(method, args))) return null;
    if (failures < (opts.maxFaults ?? Infinity) && rng.chance(opts.failRate)) {
      failures++;
      return method === 'appendEvents' ? rng.pick(appendFaults) : 'transient';
    }
    if (rng.chance(opts.delayRate ?? 0)) return 'delay';
    return null;
  };

  const delay = async () => {
    // Some delays are a few turns of the event loop (other callbacks run), some a few milliseconds (timers fire).
    if (rng.chance(0.5)) for (let i = rng.int(1, 5); i > 0; i--) await new Promise((r) => setImmediate(r));
    else await new Promise((r) => setTimeout(r, rng.int(1, 5)));
  };

  state.storage = new Proxy(target, {
    get(obj, prop, receiver) {
      const value = Reflect.get(obj, prop, receiver) as unknown;
      if (typeof value !== 'function' || !methods.has(prop)) return value;
      const method = String(prop);
      return async (...args: unknown[]) => {
        const kind = decide(method, args);
        if (kind) state.injected.push({ method, kind });
        if (kind === 'delay') await delay();
        else if (kind === 'turnLost') throw new TurnLostError('injected: turn lost');
        else if (kind === 'conflict') throw new AppendConflictError('injected: position taken', 'position');
        else if (kind === 'transient') throw new InjectedFault(`injected: ${method} failed`);
        return (value as (...a: unknown[]) => unknown).apply(obj, args);
      };
    },
  });
  return state;
}
