// Where several processes share a database, each learns of every commit, its own included, by
// reading committed events in pos order up to the engine's commit horizon (lastPos), below which no
// event can still commit: a read never passes an event that commits later. Where the server pushes
// commit notices (change streams) they trigger the reads; elsewhere the reads are polled.
import type { Logger } from 'pino';
import type { LogStorage, StoredEvent } from '../storage/types.js';

const PAGE = 1000;

/** With change streams, a slow safety poll still runs in case a notice is lost. */
const SAFETY_POLL_MS = 1000;

export class CommitTailer {
  private last = 0;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private reading: Promise<void> | null = null;
  private readAgain = false;
  private unwatch: (() => Promise<void>) | null = null;

  constructor(
    private readonly storage: LogStorage,
    private readonly emit: (events: StoredEvent[]) => void,
    private readonly intervalMs: number,
    private readonly logger: Logger,
  ) {}

  /** 'push' when the server notifies commits, 'poll' when it cannot. */
  mode: 'push' | 'poll' = 'poll';

  async start(): Promise<void> {
    this.last = await this.storage.lastPos();
    this.unwatch =
      this.storage.coordination?.watchCommits(
        () => this.read(),
        (err) => {
          this.logger.warn({ err }, 'commit change stream failed; polling instead');
          this.mode = 'poll';
        },
      ) ?? null;
    this.mode = this.unwatch ? 'push' : 'poll';
    this.logger.info({ mode: this.mode }, 'following commits of every process sharing the database');
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    void this.unwatch?.().catch(() => undefined);
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
    // The horizon is two small reads (counter, writers): reading it first keeps idle polls from scanning events.
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
    this.timer = setTimeout(
      () => void this.read().finally(() => this.schedule()),
      this.mode === 'push' ? SAFETY_POLL_MS : this.intervalMs,
    );
    this.timer.unref();
  }
}
