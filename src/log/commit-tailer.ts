// Where several processes share a database, each learns of every commit, its own included, by
// reading committed events in pos order up to the engine's commit horizon (lastPos), below which no
// event can still commit: a read never passes an event that commits later. The reads are polled
// (change streams, which could push them, cannot be tested against the test server, so they are
// not used).
import type { Logger } from 'pino';
import type { LogStorage, StoredEvent } from '../storage/types.js';

const PAGE = 1000;

export class CommitTailer {
  private last = 0;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private reading: Promise<void> | null = null;
  private readAgain = false;

  constructor(
    private readonly storage: LogStorage,
    private readonly emit: (events: StoredEvent[]) => void,
    private readonly intervalMs: number,
    private readonly logger: Logger,
  ) {}

  async start(): Promise<void> {
    this.last = await this.storage.lastPos();
    this.logger.info({ intervalMs: this.intervalMs }, 'following commits of every process sharing the database');
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  /** Read what was committed since the last read; concurrent calls coalesce into one more read. */
  private read(): Promise<void> {
    if (this.reading) {
      this.readAgain = true;
      return this.reading;
    }
    this.reading = (async () => {
      try {
        do {
          this.readAgain = false;
          await this.readAll();
        } while (this.readAgain && !this.stopped);
      } catch (err) {
        this.logger.warn({ err }, 'reading committed events failed; retrying');
      } finally {
        this.reading = null;
      }
    })();
    return this.reading;
  }

  private async readAll(): Promise<void> {
    // The horizon is small reads: reading it first keeps idle polls from scanning events.
    if ((await this.storage.lastPos()) <= this.last) return;
    for (;;) {
      const { events, through, atHorizon } = await this.storage.readCommitted(this.last, {}, PAGE);
      this.last = Math.max(this.last, through);
      if (events.length > 0) this.emit(events);
      if (atHorizon) return;
    }
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.read().finally(() => this.schedule()), this.intervalMs);
    this.timer.unref();
  }
}
