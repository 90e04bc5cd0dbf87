// Wiring: configuration → storage → log pipeline → API server. Used by main and by tests/benchmarks.
import { chmodSync, existsSync, readFileSync, statSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { pino, type Logger } from 'pino';
import { Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { createApiServer } from './api/server.js';
import { createAuthenticator, flagKeysOfUnknownOrigin } from './auth/bootstrap.js';
import type { Config } from './config.js';
import { lockDataDir, type DataDirLock } from './data-dir-lock.js';
import { ChainlogService } from './log/chainlog-service.js';
import type { AppendRequest } from './log/service.js';
import { httpPeerTransport } from './api/peer-append.js';
import { loadSigningKey } from './log/signing-key.js';
import { openStorage, type OpenedStorage } from './storage/open.js';
import { Mirror } from './mirror/follower.js';
import { WitnessService } from './witness/witness-service.js';
import { createCosigner } from './core/witness/index.js';
import { Witnessing } from './witnessing/witnessing.js';
import { InconsistencyReporter, sourceAppIdOfOrigin } from './inconsistency/reporter.js';
import { LocalViews, witnessViews } from './witness/views.js';
import { loadPeersFile, PeerComparator } from './witness/peer-comparator.js';

export interface Chainlog {
  service: ChainlogService;
  /** The C2SP witness, null unless WITNESSED_LOGS_FILE is set. */
  witness: WitnessService | null;
  /** Submission of published checkpoints to the witness policy, null unless WITNESS_POLICY_FILE is set. */
  witnessing: Witnessing | null;
  /**
   * Where every part of this server reports an inconsistency it detects (src/inconsistency): the
   * witness, the peer comparator, and a mirror.
   */
  inconsistencies: InconsistencyReporter;
  /**
   * This server's latest view of each origin it witnesses or follows, served to peers and compared with
   * theirs; a mirror adds itself with views.add().
   */
  views: LocalViews;
  /** The follower of the primary, null unless FOLLOW_URL is set (then the server is a read-only mirror). */
  mirror: Mirror | null;
  url: string;
  logger: Logger;
  engine: 'sqlite' | 'mongodb';
  /** The SQLite file, or the MongoDB URI (credentials redacted) and database. */
  location: string;
  /** SIGHUP: re-reads WITNESSED_LOGS_FILE, WITNESS_POLICY_FILE and PEERS_FILE; a file that does not load leaves its current version in force. */
  reload(): void;
  close(): Promise<void>;
}

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };

/** Database files readable by others (made before the service ran with umask 077) become 0600. */
function restrictToOwner(paths: string[], logger: Logger): void {
  for (const path of paths) {
    if (!existsSync(path)) continue;
    const mode = statSync(path).mode & 0o777;
    if ((mode & 0o077) === 0) continue;
    chmodSync(path, 0o600);
    logger.warn({ path, mode: mode.toString(8) }, 'a database file was readable by others; made it 0600');
  }
}

export interface StartOptions {
  /** The rate limits' clock (epoch ms); tests pass one they advance themselves. */
  rateLimitClock?: () => number;
  /**
   * The opened storage as the service uses it; tests pass a wrapper that fails chosen calls before they
   * reach the engine (a failure the storage contract allows), to make the API's failure answers run.
   */
  wrapStorage?: (storage: OpenedStorage['storage']) => OpenedStorage['storage'];
}

export async function startChainlog(
  config: Config,
  logger: Logger = pino({ level: config.LOG_LEVEL }),
  opts: StartOptions = {},
): Promise<Chainlog> {
  // The SQLite engine's DATA_DIR belongs to one process (src/data-dir-lock.ts); processes sharing a
  // MongoDB database may share a DATA_DIR, which then only holds the keys.
  const lock: DataDirLock | null = config.MONGODB_URI ? null : lockDataDir(config.DATA_DIR);
  try {
    return await start(config, logger, lock, opts);
  } catch (err) {
    lock?.release();
    throw err;
  }
}

async function start(config: Config, logger: Logger, lock: DataDirLock | null, opts: StartOptions): Promise<Chainlog> {
  const phases = startupPhases();
  // The clock of receipt times and leases; shifted only by the clock-skew tests.
  const offset = config.TEST_CLOCK_OFFSET_MS;
  const now = offset === 0 ? Date.now : () => Date.now() + offset;
  const opened = await openStorage(config, now);
  const { engine, location } = opened;
  const storage = opts.wrapStorage ? opts.wrapStorage(opened.storage) : opened.storage;
  phases.mark('storage');
  if (engine === 'sqlite') restrictToOwner([location, `${location}-wal`, `${location}-shm`], logger);
  const key = loadSigningKey({ dataDir: config.DATA_DIR, keyFile: config.SIGNING_KEY_FILE });
  if (key.generated) logger.info({ path: key.source }, 'generated a new signing key');
  phases.mark('key');
  const service = new ChainlogService({
    storage,
    key,
    keyName: config.keyName,
    originPrefix: config.ORIGIN_PREFIX,
    checkpointIntervalMs: config.CHECKPOINT_INTERVAL_MS,
    checkpointMinGapMs: config.CHECKPOINT_MIN_GAP_MS,
    version,
    logger,
    leaseTtlMs: config.LEASE_TTL_MS,
    ...(config.ADVERTISE_URL && {
      forwarding: {
        address: config.ADVERTISE_URL,
        transport: httpPeerTransport({
          secret: config.PROCESS_SECRET!,
          silenceMs: config.FORWARD_SILENCE_MS,
          timeoutMs: config.FORWARD_TIMEOUT_MS,
        }),
      },
    }),
    tailIntervalMs: config.TAIL_INTERVAL_MS,
    now,
    maxConcurrentAudits: config.MAX_CONCURRENT_AUDITS,
    tileCacheBytes: config.TILE_CACHE_BYTES,
    ...(config.FOLLOW_URL && { mirror: { primaryUrl: config.FOLLOW_URL, verifierKey: config.FOLLOW_VERIFIER_KEY! } }),
    leafVersion: config.LEAF_VERSION,
    ...(config.RETENTION_DAYS ? { retentionDays: config.RETENTION_DAYS } : {}),
  });
  let ready = false;
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  observeStorageReads(storage, registry, config.READ_BUDGET_ROWS);
  observeIndexLag(storage, registry);
  new Gauge({
    name: 'chainlog_group_commits',
    help: "This process's writer transactions since start (commits), and the events they held (events): events/commits appends share one transaction",
    labelNames: ['count'],
    registers: [registry],
    collect() {
      this.set({ count: 'commits' }, service.commitStats.commits);
      this.set({ count: 'events' }, service.commitStats.events);
    },
  });
  const forwarder = service.forwarder;
  if (forwarder) {
    new Gauge({
      name: 'chainlog_append_forwards',
      help: 'Appends this process handed to the holder of their log lease, by outcome since start (followed: hops to where a former holder said the lease is now; silent, timeout: given up on; in_flight: now)',
      labelNames: ['outcome'],
      registers: [registry],
      collect() {
        const { forwarded, followed, unreachable, lost, silent, timeouts, inFlight } = forwarder.stats;
        this.set({ outcome: 'forwarded' }, forwarded);
        // A forward that reached a process no longer holding the lease, and went on to the one it named.
        this.set({ outcome: 'followed' }, followed);
        this.set({ outcome: 'unreachable' }, unreachable);
        this.set({ outcome: 'lost' }, lost);
        // Given up on: no sign of life within FORWARD_SILENCE_MS (silent), or still working at FORWARD_TIMEOUT_MS (timeout).
        this.set({ outcome: 'silent' }, silent);
        this.set({ outcome: 'timeout' }, timeouts);
        this.set({ outcome: 'in_flight' }, inFlight);
      },
    });
    new Gauge({
      name: 'chainlog_append_forward_signs',
      help: "Signs of life (HTTP 102 Processing) this process received since start from holders still working on its forwards: a holder's slow commits",
      registers: [registry],
      collect() {
        this.set(forwarder.stats.signs);
      },
    });
  }
  let mirror: Mirror | null = null;
  let witness: WitnessService | null;
  let inconsistencies: InconsistencyReporter;
  const views = new LocalViews();
  let peers: PeerComparator | null;
  let witnessing: Witnessing | null = null;
  try {
    if (!storage.inconsistencies) throw new Error('this storage engine cannot keep inconsistencies');
    inconsistencies = new InconsistencyReporter({
      store: storage.inconsistencies,
      logger,
      registry,
      sourceAppIdOf: sourceAppIdOfOrigin(config.ORIGIN_PREFIX),
    });
    mirror = config.FOLLOW_URL
      ? new Mirror({
          primaryUrl: config.FOLLOW_URL,
          apiKey: config.FOLLOW_API_KEY!,
          verifierKey: config.FOLLOW_VERIFIER_KEY!,
          storage,
          service,
          logger,
          registry,
          inconsistencies,
          now,
        })
      : null;
    witness = await startWitness(config, storage, logger, key.publicKey, inconsistencies, mirror);
    if (witness) views.add(witnessViews(witness));
    // A mirror's verified copy is a view too: what it accepted of each log of its primary.
    if (mirror) views.add(mirror.views());
    peers = config.PEERS_FILE
      ? new PeerComparator({
          peers: loadPeersFile(config.PEERS_FILE),
          peersFile: config.PEERS_FILE,
          views,
          inconsistencies,
          logger,
          registry,
          intervalMs: config.PEER_COMPARE_INTERVAL_MS,
          timeoutMs: config.PEER_TIMEOUT_MS,
        })
      : null;
    // Subscribed before the first publish cycle, so every checkpoint this process publishes is submitted.
    if (config.WITNESS_POLICY_FILE) {
      witnessing = new Witnessing({
        service,
        storage,
        policyFile: config.WITNESS_POLICY_FILE,
        requestTimeoutMs: config.WITNESS_SUBMIT_TIMEOUT_MS,
        maxBackoffMs: config.WITNESS_SUBMIT_MAX_BACKOFF_MS,
        refreshIntervalMs: config.WITNESS_REFRESH_INTERVAL_MS,
        minSubmitGapMs: config.WITNESS_SUBMIT_MIN_GAP_MS,
        logger,
        registry,
        now,
      });
    }
  } catch (err) {
    await storage.close();
    throw err;
  }
  phases.mark('services');
  const auth = createAuthenticator(config, storage, logger);
  if (config.AUTH !== 'off') await flagKeysOfUnknownOrigin(storage.apiKeys, logger);
  const api = await createApiServer({
    service,
    config,
    logger,
    registry,
    isReady: () => ready,
    auth,
    witness,
    witnessing,
    inconsistencies,
    views,
    mirror,
    ...(config.PROCESS_SECRET && {
      peerAppend: { secret: config.PROCESS_SECRET, append: (requests: AppendRequest[]) => service.appendHere(requests) },
    }),
    ...(opts.rateLimitClock && { now: opts.rateLimitClock }),
  });
  phases.mark('api');
  await service.start();
  phases.mark('log');
  // Checkpoints published before a restart whose quorum had not answered: submitted again, in the
  // background, by the process that publishes: now, or once it takes the publisher lease (sharing a
  // database, after a process that died held it until it expired).
  if (witnessing) {
    const resubmit = () =>
      void witnessing.submitUnwitnessed().catch((err) => logger.error({ err }, 'unwitnessed checkpoints not resubmitted'));
    service.onPublishing(resubmit);
    if (service.publishes) resubmit();
  }
  try {
    // Fails on a key the primary refuses or a primary signing with another key; not on a primary that is down.
    await mirror?.start();
  } catch (err) {
    await api.close();
    await service.stop();
    await storage.close();
    throw err;
  }
  await new Promise<void>((resolve, reject) => {
    api.httpServer.once('error', reject);
    api.httpServer.listen(config.PORT, config.HOST, () => resolve());
  });
  const { port } = api.httpServer.address() as AddressInfo;
  const url = `http://${config.HOST.includes(':') ? `[${config.HOST}]` : config.HOST}:${port}`;
  phases.mark('listen');
  ready = true;
  peers?.start();
  logger.info(
    {
      url,
      engine,
      storage: location,
      verifierKey: service.info.verifierKey,
      ...(mirror && { mirrorOf: mirror.primaryUrl }),
      startupMs: phases.done(),
    },
    'chainlog ready',
  );
  return {
    service,
    witness,
    witnessing,
    inconsistencies,
    views,
    mirror,
    url,
    logger,
    engine,
    location,
    reload() {
      if (!witness && !witnessing && !peers) {
        logger.info('SIGHUP: no witness, witness policy or peers file configured, nothing to reload');
      }
      witness?.reload();
      witnessing?.reload();
      peers?.reload();
    },
    async close() {
      ready = false;
      await peers?.stop();
      await mirror?.stop();
      await api.close();
      logger.debug('api closed');
      await witnessing?.stop();
      await service.stop();
      logger.debug('log service stopped');
      await storage.close();
      logger.debug('storage closed');
      lock?.release();
    },
  };
}

/**
 * Where a start's time goes, for the ready line of the log (operators: a slow start shows its phase).
 * `process` is the time from the process's start to this call (node itself, loading the modules,
 * reading the configuration); every other phase is the time since the mark before it; `total` is
 * from the process's start to ready. A server started inside a longer-running process (tests) counts
 * that process's life in `process`.
 */
function startupPhases() {
  const phases: Record<string, number> = { process: Math.round(performance.now()) };
  let last = performance.now();
  return {
    mark(name: string) {
      const t = performance.now();
      phases[name] = Math.round(t - last);
      last = t;
    },
    done(): Record<string, number> {
      return { ...phases, total: Math.round(performance.now()) };
    },
  };
}

/**
 * The witness, when WITNESSED_LOGS_FILE names the logs to witness; its key is generated like the log's.
 * Its verifier key is recorded in the witness store at the first start: every process sharing the
 * database (or a copy of the data directory) cosigns as that one witness, or does not start.
 */
async function startWitness(
  config: Config,
  storage: OpenedStorage['storage'],
  logger: Logger,
  signingPublicKey: Uint8Array,
  inconsistencies: InconsistencyReporter,
  mirror: Mirror | null,
): Promise<WitnessService | null> {
  if (!config.WITNESSED_LOGS_FILE) return null;
  if (!storage.witness) throw new Error('this storage engine cannot keep a witness state');
  const key = loadSigningKey({ dataDir: config.DATA_DIR, keyFile: config.WITNESS_KEY_FILE, fileName: 'witness-key.pem' });
  // A cosigner's key is its own (c2sp.org/tlog-cosignature): a witness must not vouch with the log's key.
  if (Buffer.from(key.publicKey).equals(signingPublicKey)) {
    throw new Error(`WITNESS_KEY_FILE ${key.source} holds the log's signing key; the witness needs a key of its own`);
  }
  if (key.generated) logger.info({ path: key.source }, 'generated a new witness key');
  // The cosigner checks WITNESS_NAME before anything is recorded under it.
  const { verifierKey } = createCosigner(config.witnessName, key.privateKey);
  const recorded = await storage.witness.claimVerifierKey(verifierKey);
  if (recorded !== verifierKey) {
    throw new Error(
      `WITNESS_KEY_FILE ${key.source}: this database's witness is ${recorded}, this process's key and WITNESS_NAME make ` +
        `${verifierKey}; every process sharing the database must witness with the same WITNESS_KEY_FILE and WITNESS_NAME`,
    );
  }
  const witness = new WitnessService({
    store: storage.witness,
    inconsistencies,
    key,
    name: config.witnessName,
    logsFile: config.WITNESSED_LOGS_FILE,
    ratePerSec: config.WITNESS_RATE_LIMIT_PER_SEC,
    logger,
    // A mirror's witness cosigns a checkpoint of its primary only once its own copy verified it.
    ...(mirror && { vouch: (origin: string, size: number, root: string) => mirror.vouch(origin, size, root) }),
  });
  return witness;
}

/** Stored events the engine's indexes do not cover yet (LogStorage.indexLag), read at each scrape. */
export function observeIndexLag(storage: OpenedStorage['storage'], registry: Registry): void {
  if (!storage.indexLag) return;
  const lag = () => storage.indexLag!();
  new Gauge({
    name: 'chainlog_storage_index_lag_events',
    help: 'Stored events the indexes do not cover yet (SQLite: the keys behind the appends), which reads in time order and replays by event type read from the events table: a few thousand under ingest, 0 at rest; growing, the writer fails to add the keys.',
    registers: [registry],
    collect() {
      try {
        this.set(lag());
      } catch {
        // The store is closing or failing: the gauge keeps its last value, and /metrics still answers.
      }
    },
  });
}

/** Rows each storage read of events examined on this process's thread (bounded by READ_BUDGET_ROWS). */
function observeStorageReads(storage: OpenedStorage['storage'], registry: Registry, budget: number): void {
  if (!storage.observeReads) return;
  const histogram = new Histogram({
    name: 'chainlog_storage_read_rows_examined',
    help: 'Rows one storage read of events (a page of events, a step of subscription replay) examined; at most READ_BUDGET_ROWS.',
    buckets: [...new Set([10, 100, 1000, budget, 10 * budget])].sort((a, b) => a - b),
    registers: [registry],
  });
  storage.observeReads((rows) => histogram.observe(rows));
}
