// Where several processes share a database, each learns of every commit, its own included, by
// reading committed events in pos order. The sequencer lease makes pos order commit order, and the
// engine's commit watermark keeps appends that may still be undone out of sight.
import type { Logger } from 'pino';
import type { LogStorage, StoredEvent } from '../storage/types.js';

const PAGE = 1000;

export class CommitTailer {
  private last = 0;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(
    private readonly storage: LogStorage,
    private readonly emit: (events: StoredEvent[]) => void,
    private readonly intervalMs: number,
    private readonly logger: Logger,
  ) {}

  async start(): Promise<void> {
    this.last = await this.storage.lastPos();
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  private async poll(): Promise<void> {
    for (;;) {
      const events = await this.storage.readCommitted(this.last, {}, PAGE);
      if (events.length === 0) return;
      this.last = events[events.length - 1]!.pos;
      this.emit(events);
      if (events.length < PAGE) return;
    }
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.poll()
        .catch((err) => this.logger.warn({ err }, 'reading committed events failed; retrying'))
        .finally(() => this.schedule());
    }, this.intervalMs);
    this.timer.unref();
  }
}
