// Calls of one kind made in the same turn of the event loop, answered together: a caller that asks
// about many logs at once (Promise.all over them) costs a few database commands, not a few per log.
//
// Contract: every call made before the turn ends goes into one run; the run settles each waiter
// (resolve or reject); a run that throws, or ends without settling a waiter, rejects every waiter it left
// unsettled. Nothing waits on a clock: the run starts at the next setImmediate.

export interface Waiter<K, V> {
  key: K;
  resolve: (value: V) => void;
  reject: (err: unknown) => void;
}

export class Coalescer<K, V> {
  private waiting: Array<Waiter<K, V>> = [];

  constructor(private readonly run: (waiters: ReadonlyArray<Waiter<K, V>>) => Promise<void>) {}

  get(key: K): Promise<V> {
    return new Promise<V>((resolve, reject) => {
      if (this.waiting.length === 0) setImmediate(() => this.flush());
      this.waiting.push({ key, resolve, reject });
    });
  }

  private flush(): void {
    const waiters = this.waiting;
    this.waiting = [];
    // A waiter already settled ignores a later rejection.
    this.run(waiters).then(
      () => {
        for (const w of waiters) w.reject(new Error('coalesced call left unanswered'));
      },
      (err: unknown) => {
        for (const w of waiters) w.reject(err);
      },
    );
  }
}

/**
 * `items` split, in order, into runs whose sizes sum to at most `budget` (an item larger than the budget
 * alone in its run): a coalesced run that would make one command too large makes a few.
 */
export function runsWithin<T>(items: readonly T[], sizeOf: (item: T) => number, budget: number): T[][] {
  const runs: T[][] = [];
  let run: T[] = [];
  let size = 0;
  for (const item of items) {
    const n = sizeOf(item);
    if (run.length > 0 && size + n > budget) {
      runs.push(run);
      run = [];
      size = 0;
    }
    run.push(item);
    size += n;
  }
  if (run.length > 0) runs.push(run);
  return runs;
}
