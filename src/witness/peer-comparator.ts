// Compares this server's view of each origin it witnesses or follows (views.ts) with the views its
// peers serve at GET <monitoring prefix>/<origin hash>/checkpoint, on an interval, each fetch with a
// timeout and a bounded body. Two views that cannot both be true are reported as an inconsistency
// (src/inconsistency): the same size with different roots is proven at once; different sizes are
// decided only with a consistency proof from the log (a ProofSource), and are otherwise left
// undecided, as peers at different sizes is what lag looks like. A peer whose view of an origin
// shrinks is reported as an unproven observation (history going backwards).
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import { CheckpointError, logVerifiers, openCheckpoint } from '../core/checkpoint.js';
import { classifyCheckpoints, historyBackwards, type Evidence, type SignedCheckpoint } from '../core/inconsistency/evidence.js';
import { NoteError } from '../core/note/signed-note.js';
import type { InconsistencyReporter } from '../inconsistency/reporter.js';
import { AnswerTooLongError, readBoundedBytes } from '../net/bounded-answer.js';
import { originHash, type LocalViews, type View } from './views.js';

/** The most a peer's answer may be: a checkpoint with up to 100 signature lines fits well within it. */
export const MAX_PEER_BODY_BYTES = 64 * 1024;

/** A consistency proof from the log itself (its public proof API), for views of different sizes. */
export interface ProofSource {
  /**
   * The RFC 9162 proof from size1 to size2 of the origin's log, and its root at size1 when size1 is a
   * power of two (the proof leaves it out); null when the log offers none.
   */
  consistencyProof(
    origin: string,
    size1: number,
    size2: number,
  ): Promise<{ proof: Uint8Array[]; prefixRoot?: Uint8Array } | null>;
}

export type ComparisonResult = 'consistent' | 'inconsistent' | 'undecided' | 'unavailable' | 'invalid';

export class PeersFileError extends Error {
  override name = 'PeersFileError';
}

/** PEERS_FILE: one http(s) monitoring prefix per line; blank lines and `#` comments are skipped. */
export function parsePeersFile(text: string, path: string): string[] {
  const peers: string[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/#.*/, '').trim();
    if (line === '') return;
    let url: URL;
    try {
      url = new URL(line);
    } catch {
      throw new PeersFileError(`PEERS_FILE ${path}: line ${i + 1}: not a URL`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      throw new PeersFileError(`PEERS_FILE ${path}: line ${i + 1}: must be an http(s) URL`);
    peers.push(line.replace(/\/+$/, ''));
  });
  return peers;
}

export function loadPeersFile(path: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new PeersFileError(`PEERS_FILE ${path}: ${(err as Error).message}`);
  }
  return parsePeersFile(text, path);
}

export interface PeerComparatorOptions {
  peers: string[];
  /** Where `peers` came from (PEERS_FILE): reload() reads it again. */
  peersFile?: string;
  views: LocalViews;
  inconsistencies: InconsistencyReporter;
  logger: Logger;
  intervalMs: number;
  timeoutMs: number;
  registry?: Registry;
  proofs?: ProofSource;
}

class PeerAnswerError extends Error {}

export class PeerComparator {
  private readonly logger: Logger;
  private readonly comparisons: Counter<'peer' | 'result'>;
  /** The last view each peer served of each origin: `${peer} ${origin}`. */
  private readonly lastSeen = new Map<string, SignedCheckpoint>();
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private readonly abort = new AbortController();
  private stopped = false;
  private peers: string[];

  constructor(private readonly opts: PeerComparatorOptions) {
    this.logger = opts.logger.child({ component: 'peers' });
    this.peers = opts.peers;
    this.comparisons = new Counter({
      name: 'chainlog_peer_comparisons_total',
      help: "Comparisons of this server's view of an origin with a peer's, by peer and result (consistent, inconsistent, undecided: different sizes without a proof, unavailable: no answer or 404, invalid: an answer that is not a signed checkpoint of the origin).",
      labelNames: ['peer', 'result'],
      registers: opts.registry ? [opts.registry] : [],
    });
  }

  /**
   * Reads the peers file again; the next round compares with the new list. A file that does not load
   * leaves the current list in force (an error is logged) and returns false.
   */
  reload(): boolean {
    if (this.opts.peersFile === undefined) return false;
    let peers: string[];
    try {
      peers = loadPeersFile(this.opts.peersFile);
    } catch (err) {
      this.logger.error({ err: (err as Error).message }, 'peers not reloaded; the previous list stays in force');
      return false;
    }
    const kept = new Set(peers);
    for (const key of this.lastSeen.keys()) if (!kept.has(key.slice(0, key.indexOf(' ')))) this.lastSeen.delete(key);
    this.peers = peers;
    this.logger.info({ peers }, 'peers reloaded');
    return true;
  }

  start(): void {
    this.logger.info({ peers: this.peers, intervalMs: this.opts.intervalMs }, 'comparing views with peers');
    const tick = () => {
      this.running = this.compareAll().finally(() => {
        this.running = null;
        if (!this.stopped) this.timer = setTimeout(tick, this.opts.intervalMs);
      });
    };
    tick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.abort.abort();
    await this.running;
  }

  /** One round: every origin with a view here, against every peer. */
  async compareAll(): Promise<void> {
    for (const { origin } of this.opts.views.origins()) {
      if (this.stopped) return;
      let ours: View | null;
      try {
        ours = await this.opts.views.latest(origin);
      } catch (err) {
        this.logger.warn({ err, origin }, 'could not read our own view');
        continue;
      }
      if (!ours) continue;
      await Promise.all(this.peers.map((peer) => this.comparePeer(peer, ours)));
    }
  }

  private async comparePeer(peer: string, ours: View): Promise<void> {
    const result = await this.compare(peer, ours).catch((err: unknown) => {
      this.logger.error({ err, peer, origin: ours.origin }, 'comparing with a peer failed');
      return 'unavailable' as const;
    });
    this.comparisons.inc({ peer, result });
  }

  private async compare(peer: string, ours: View): Promise<ComparisonResult> {
    const { origin } = ours;
    let text: string | null;
    try {
      text = await this.fetchView(peer, origin);
    } catch (err) {
      this.logger.warn({ peer, origin, err: (err as Error).message }, 'no view from peer');
      return 'unavailable';
    }
    if (text === null) return 'unavailable';
    let theirs: SignedCheckpoint;
    try {
      theirs = { note: text, checkpoint: openCheckpoint(text, logVerifiers(ours.trusted, origin), origin) };
    } catch (err) {
      if (!(err instanceof NoteError || err instanceof CheckpointError)) throw err;
      // Not the log's fault: the peer serves something the log did not sign.
      this.logger.warn({ peer, origin, err: err.message }, "a peer's view is not a checkpoint signed by the log");
      return 'invalid';
    }
    const key = `${peer} ${origin}`;
    const before = this.lastSeen.get(key);
    if (before && theirs.checkpoint.size < before.checkpoint.size) {
      await this.report(historyBackwards(before, theirs, peer), peer, ours);
    }
    // Remembered once what it showed is recorded: a record that failed is made again next round,
    // against the same larger view.
    this.lastSeen.set(key, theirs);
    const mine: SignedCheckpoint = { note: ours.note, checkpoint: ours.checkpoint };
    let proof: Awaited<ReturnType<ProofSource['consistencyProof']>> = null;
    if (mine.checkpoint.size !== theirs.checkpoint.size && mine.checkpoint.size > 0 && theirs.checkpoint.size > 0) {
      const [m, n] = [mine.checkpoint.size, theirs.checkpoint.size].sort((a, b) => a - b) as [number, number];
      proof =
        (await this.opts.proofs?.consistencyProof(origin, m, n).catch((err: unknown) => {
          this.logger.warn({ origin, err: (err as Error).message }, 'no consistency proof from the log');
          return null;
        })) ?? null;
      if (!proof) return 'undecided';
    }
    const evidence = classifyCheckpoints(mine, theirs, proof ?? {});
    if (!evidence) return 'consistent';
    await this.report(evidence, peer, ours);
    return 'inconsistent';
  }

  private async report(evidence: Evidence, peer: string, ours: View): Promise<void> {
    await this.opts.inconsistencies.report({ evidence, detectedBy: 'peer', source: peer, trusted: ours.trusted });
  }

  /** The peer's note of the origin; null for 404. Throws PeerAnswerError (or a fetch error) otherwise. */
  private async fetchView(peer: string, origin: string): Promise<string | null> {
    // One controller per fetch, aborted by stop() or by its own timer (which covers the body too).
    const controller = new AbortController();
    const onStop = () => controller.abort(new PeerAnswerError('the comparator stopped'));
    this.abort.signal.addEventListener('abort', onStop);
    const timer = setTimeout(
      () => controller.abort(new PeerAnswerError(`no complete answer within ${this.opts.timeoutMs} ms`)),
      this.opts.timeoutMs,
    );
    try {
      return await this.readView(peer, origin, controller.signal);
    } finally {
      clearTimeout(timer);
      this.abort.signal.removeEventListener('abort', onStop);
    }
  }

  private async readView(peer: string, origin: string, signal: AbortSignal): Promise<string | null> {
    const res = await fetch(`${peer}/${originHash(origin)}/checkpoint`, { signal, redirect: 'error' });
    if (res.status === 404) {
      await res.body?.cancel();
      return null;
    }
    if (res.status !== 200) {
      await res.body?.cancel();
      throw new PeerAnswerError(`status ${res.status}`);
    }
    let body: Uint8Array;
    try {
      body = await readBoundedBytes(res, MAX_PEER_BODY_BYTES);
    } catch (err) {
      if (err instanceof AnswerTooLongError) {
        throw new PeerAnswerError(
          err.declared === null
            ? `answer larger than ${MAX_PEER_BODY_BYTES} bytes`
            : `answer of ${err.declared} bytes, larger than ${MAX_PEER_BODY_BYTES} bytes`,
        );
      }
      throw err;
    }
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(body);
    } catch {
      throw new PeerAnswerError('answer is not UTF-8');
    }
  }
}
