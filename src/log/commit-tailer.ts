// Where several processes share a database, each learns of every commit, its own included, by
// reading committed events in pos order up to the engine's commit horizon (lastPos), below which no
// event can still commit: a read never passes an event that commits later. The reads are polled
// (change streams, which could push them, cannot be tested against the test server, so they are
// not used).
//
// A stored event that breaks the storage contract (tampered with, or damaged) does not stop the
// tailer: it is logged with its log and seq, handed to the listeners in its place (so the
// subscribers of its log are told, see CommittedEventStream), and the tailer goes on past it.
// Quarantining the log is the integrator's part: it refuses to integrate a malformed event.
import type { Logger } from 'pino';
import type { LogStorage, MalformedCommitted, StoredEvent } from '../storage/types.js';

const PAGE = 1000;

export class CommitTailer {
  private last = 0;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private reading: Promise<void> | null = null;
  private readAgain = false;

  constructor(
    private readonly storage: LogStorage,
    private readonly emit: (events: StoredEvent[], malformed?: readonly MalformedCommitted[]) => void,
    private readonly intervalMs: number,
    private readonly logger: Logger,
  ) {}

  /** Follow the commits after `afterPos`, or (without it) those after the current horizon. */
  async start(afterPos?: number): Promise<void> {
    this.last = afterPos ?? (await this.storage.lastPos());
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
    // Each read starts with the horizon, and reads no events when nothing is past `last`: an idle
    // poll costs one read of the horizon, a poll with commits to read no second one.
    for (;;) {
      const { events, through, atHorizon, malformed } = await this.storage.readCommitted(this.last, {}, PAGE, {
        reportMalformed: true,
      });
      this.last = Math.max(this.last, through);
      for (const m of malformed ?? []) {
        this.logger.error(
          { sourceAppId: m.error.sourceAppId, seq: m.error.seq, pos: m.pos, err: m.error },
          'a committed event is malformed; its subscribers are told, and the log is not integrated',
        );
      }
      if (events.length > 0 || malformed) this.emit(events, malformed);
      if (atHorizon) return;
    }
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.read().finally(() => this.schedule()), this.intervalMs);
    this.timer.unref();
  }
}
