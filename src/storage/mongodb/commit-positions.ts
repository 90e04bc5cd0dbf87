// Allocates commit positions (`pos`) from one counter document.
import type { Collection } from 'mongodb';
import type { CounterDoc, EventDoc } from './documents.js';

const COUNTER_ID = 'pos';

export class CommitPositions {
  constructor(
    private readonly counters: Collection<CounterDoc>,
    private readonly events: Collection<EventDoc>,
  ) {}

  /** Reserves n positions; returns the first. Gaps (from failed appends) are allowed, reuse is not. */
  async allocate(n: number): Promise<number> {
    const doc = await this.counters.findOneAndUpdate(
      { _id: COUNTER_ID },
      { $inc: { value: n } },
      { upsert: true, returnDocument: 'after' },
    );
    if (!doc) throw new Error('pos counter upsert returned nothing');
    return doc.value - n + 1;
  }

  /** The highest pos allocated so far (0 before the first). */
  async current(): Promise<number> {
    const doc = await this.counters.findOne({ _id: COUNTER_ID });
    return doc?.value ?? 0;
  }

  /**
   * Moves the counter past every committed pos. Run at start (the counter is derived data) and
   * after a duplicate pos, which only a non-atomic $inc (FerretDB) produces.
   */
  async catchUp(): Promise<void> {
    const top = await this.highestCommitted();
    await this.counters.updateOne({ _id: COUNTER_ID }, { $max: { value: top } }, { upsert: true });
  }

  async highestCommitted(): Promise<number> {
    // Numbers only: a pos of another BSON type (damage; reads report it) sorts above every number and would
    // poison the counter for every later append.
    const last = await this.events.find({ pos: { $gte: 0 } }, { projection: { _id: 0, pos: 1 }, sort: { pos: -1 }, limit: 1 }).next();
    return last?.pos ?? 0;
  }
}
