// Configuration from the environment, validated once at start.
import { z } from 'zod';
import { parseVerifierKey } from './core/note/signed-note.js';

const intFrom = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

const schema = z.object({
  PORT: intFrom(0, 65535).default(4000),
  HOST: z.string().min(1).default('127.0.0.1'),
  DATA_DIR: z.string().min(1).default('./data'),
  /**
   * With eager publishing on, the interval on which a log whose publish failed is retried and a process
   * sharing the database takes over publishing from one that stopped; with it off (CHECKPOINT_MIN_GAP_MS
   * 0), how often the logs that grew get a checkpoint.
   */
  CHECKPOINT_INTERVAL_MS: intFrom(50, 3_600_000).default(1000),
  /**
   * Eager publishing: a log that grew gets a checkpoint as soon as its previous one is this old (commits
   * arriving meanwhile share it); 0 = publish on CHECKPOINT_INTERVAL_MS only. 50 ms by default: with 512
   * closed-loop clients the ack alone takes about 100-130 ms, and proof-ready p95 within 250 ms leaves the
   * wait for the next checkpoint about 100 ms (docs/performance.md, session 33).
   */
  CHECKPOINT_MIN_GAP_MS: intFrom(0, 3_600_000).default(50),
  ORIGIN_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$/, 'must be 1-128 chars of letters, digits and . _ : / -')
    .default('chainlog.local'),
  /** Signing key name in notes; defaults to ORIGIN_PREFIX. */
  KEY_NAME: z
    .string()
    .regex(/^[!-*,-~]{1,128}$/, 'must be 1-128 printable ASCII chars without spaces or +')
    .optional(),
  /** PKCS#8 PEM Ed25519 private key file; default: generated into DATA_DIR/signing-key.pem. */
  SIGNING_KEY_FILE: z.string().min(1).optional(),
  /**
   * The witness (c2sp.org/tlog-witness): a C2SP tlog-policy file whose `log <vkey> [<url>]` lines are
   * the logs this server cosigns; unset, the witness is off. Re-read on SIGHUP.
   */
  WITNESSED_LOGS_FILE: z.string().min(1).optional(),
  /** The witness's PKCS#8 PEM Ed25519 key file; default: generated into DATA_DIR/witness-key.pem. */
  WITNESS_KEY_FILE: z.string().min(1).optional(),
  /** The witness's key name in its cosignatures; defaults to `<KEY_NAME>/witness`. */
  WITNESS_NAME: z
    .string()
    .regex(/^[!-*,-~]{1,128}$/, 'must be 1-128 printable ASCII chars without spaces or +')
    .optional(),
  /** add-checkpoint requests one log (origin) may make per second, counted once its signature verified; 0 = unlimited. */
  WITNESS_RATE_LIMIT_PER_SEC: intFrom(0, 1_000_000).default(10),
  /**
   * The log's witnesses: a C2SP tlog-policy file of `witness <name> <vkey> <url>`, `group` and `quorum`
   * lines; each published checkpoint is submitted to `<url>/add-checkpoint` of every witness, and is
   * witnessed once the quorum's cosignatures verify. Unset: checkpoints are not submitted. Re-read on SIGHUP.
   */
  WITNESS_POLICY_FILE: z.string().min(1).optional(),
  /** How long one add-checkpoint request to a policy witness may take before it is abandoned and retried. */
  WITNESS_SUBMIT_TIMEOUT_MS: intFrom(100, 600_000).default(10_000),
  /**
   * The least time between two add-checkpoint requests for one log to one witness: a log publishing
   * faster has only its newest checkpoint submitted when the gap is over (witnesses limit requests per
   * log, WITNESS_RATE_LIMIT_PER_SEC here); 0 = no gap.
   */
  WITNESS_SUBMIT_MIN_GAP_MS: intFrom(0, 3_600_000).default(150),
  /** The longest wait between retries of a submission to a witness (exponential backoff with jitter up to it). */
  WITNESS_SUBMIT_MAX_BACKOFF_MS: intFrom(10, 3_600_000).default(60_000),
  /**
   * Resubmit each log's witnessed latest checkpoint to a policy witness whose newest cosignature on it is
   * older than this, so an idle log's cosignatures stay fresh for auditors checking their age; 0 = never.
   */
  WITNESS_REFRESH_INTERVAL_MS: intFrom(0, 86_400_000)
    .refine((ms) => ms === 0 || ms >= 100, 'must be 0 (off) or at least 100')
    .default(60_000),
  /**
   * Peers to compare views with: a file of monitoring prefixes (c2sp.org/tlog-witness, e.g.
   * `http://peer:4000/witness`), one per line, `#` comments; unset, no comparison. Read at start.
   */
  PEERS_FILE: z.string().min(1).optional(),
  /** How often each peer's view of every origin this server witnesses is fetched and compared. */
  PEER_COMPARE_INTERVAL_MS: intFrom(100, 86_400_000).default(60_000),
  /** The most one fetch from a peer may take (connection, answer and body). */
  PEER_TIMEOUT_MS: intFrom(100, 600_000).default(5_000),
  /**
   * A mirror: the URL of the chainlog server to follow (its primary). The server then copies and
   * verifies the primary's logs and serves them read-only (docs/design/mirror.md).
   */
  FOLLOW_URL: z
    .string()
    .regex(/^https?:\/\/[^\s/]+(\/[^\s]*)?$/, 'must be an http:// or https:// URL, e.g. http://primary:4000')
    .optional(),
  /** With FOLLOW_URL: a verifier key of the primary's signing key (serverInfo.verifierKey or any log's). */
  FOLLOW_VERIFIER_KEY: z
    .string()
    .refine((s) => {
      try {
        parseVerifierKey(s);
        return true;
      } catch {
        return false;
      }
    }, 'must be an Ed25519 verifier key <name>+<key id hex>+<base64(0x01 || key)>, e.g. serverInfo.verifierKey of the primary')
    .optional(),
  /** With FOLLOW_URL: an API key of the primary with the auditor role, for all its logs. */
  FOLLOW_API_KEY: z.string().min(1).max(512).optional(),
  MONGODB_URI: z
    .string()
    .regex(/^mongodb(\+srv)?:\/\//, 'must start with mongodb:// or mongodb+srv://')
    .optional(),
  MONGODB_DB: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,63}$/, 'must be 1-63 letters, digits, _ or -')
    .default('chainlog'),
  /**
   * The MongoDB engine's time limit for each step of a database call (server selection, a pooled
   * connection, connecting, each reply); a call that runs into it answers UNAVAILABLE, and a start
   * against a database that does not answer fails after it.
   */
  MONGODB_TIMEOUT_MS: intFrom(100, 600_000).default(30_000),
  /**
   * How many independent writes the MongoDB engine lets a caller keep in flight at once (the
   * publisher's logs of one cycle). Default: 4 against FerretDB (its SQLite backend has one write
   * lock, which waiting writers poll for), 32 otherwise (document-level concurrency).
   */
  MONGODB_WRITE_CONCURRENCY: intFrom(1, 256).optional(),
  /** Processes sharing a MongoDB database take turns through leases of this length. */
  LEASE_TTL_MS: intFrom(500, 600_000).default(5000),
  /**
   * Processes sharing a MongoDB database: the URL at which the others reach this process (e.g.
   * http://10.0.0.5:4000), recorded with the log leases it takes. A process that gets an append for
   * a log another one holds hands it to that one (docs/design/many-processes.md), so a load balancer
   * need not route by log. Needs PROCESS_SECRET. Unset: every process appends itself, taking turns.
   */
  ADVERTISE_URL: z
    .string()
    .regex(/^https?:\/\/[^\s/]+(\/[^\s]*)?$/, 'must be an http:// or https:// URL, e.g. http://10.0.0.5:4000')
    .transform((u) => u.replace(/\/+$/, ''))
    .optional(),
  /** With ADVERTISE_URL: the secret every process sharing the database uses to hand appends to another. */
  PROCESS_SECRET: z
    .string()
    .min(32, 'must be at least 32 characters')
    .max(512)
    .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces')
    .optional(),
  /**
   * How long a process waits without a sign of life from the process it handed an append to (the
   * holder sends one, an HTTP 102, every quarter of this while it works on the append); then the
   * append answers UNAVAILABLE (rule outcomeUnknown, retry with the same idempotency keys). A holder
   * whose commits are slow but progressing is waited for; one that stalls is given up on after this.
   */
  FORWARD_SILENCE_MS: intFrom(100, 600_000).default(5_000),
  /**
   * The most a forward may take in all, signs of life or not (the holder's own bounds, its turn at the
   * lease and the engine's time limits, normally end it first); then the append answers as above.
   */
  FORWARD_TIMEOUT_MS: intFrom(100, 3_600_000).default(60_000),
  /** How often a process sharing a database reads commits made by the others (live subscriptions). */
  TAIL_INTERVAL_MS: intFrom(5, 60_000).default(50),
  /**
   * Test only (refused unless NODE_ENV=test): shifts this process's clock by this many ms, for the
   * clock-skew tests of processes sharing a database. Receipt times and lease times use it.
   */
  TEST_CLOCK_OFFSET_MS: intFrom(-86_400_000, 86_400_000).default(0),
  /** `off` lets every caller do everything (local demos only; logged loudly at start). */
  AUTH: z.enum(['on', 'off']).default('on'),
  /** Bootstrap admin key; default: generated into DATA_DIR/admin-api-key (0600) and printed once. */
  ADMIN_API_KEY: z
    .string()
    .min(24, 'must be at least 24 characters')
    .max(512)
    .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces')
    .optional(),
  /** Bearer token for GET /metrics (besides an admin API key). */
  METRICS_TOKEN: z
    .string()
    .min(16, 'must be at least 16 characters')
    .max(512)
    .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces')
    .optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** `auto`: readable lines and a start banner when stdout is a terminal, JSON lines otherwise. */
  LOG_FORMAT: z.enum(['auto', 'json', 'pretty'], { error: 'must be auto, json or pretty' }).default('auto'),
  /** How long a stop on SIGTERM/SIGINT may take (requests and subscriptions drain, the last checkpoints are published) before the process exits anyway. */
  SHUTDOWN_TIMEOUT_MS: intFrom(0, 600_000).default(10_000),
  NODE_ENV: z.string().default('development'),
  /** How far in the future an event timestamp may be. */
  MAX_CLOCK_SKEW_MS: intFrom(0, 86_400_000).default(300_000),
  MAX_PAYLOAD_BYTES: intFrom(2, 1_048_576).default(65_536),
  /** verifyLog audits running at once per server (one per log at a time); more get RATE_LIMITED. */
  MAX_CONCURRENT_AUDITS: intFrom(1, 64).default(2),
  /**
   * The leaf version a log gets when its first event is written (docs/log-format.md); a log keeps it for
   * life. 2 by default: only version 2 payloads can be erased (eraseEvents, retention), and a log cannot
   * change version later.
   */
  LEAF_VERSION: z.coerce
    .number()
    .pipe(z.union([z.literal(1), z.literal(2)], { error: 'must be 1 or 2' }))
    .default(2),
  /**
   * Retention of payloads (leaf version 2): a JSON object of `sourceAppId` to days, with `"*"` for every
   * log not named, e.g. `{"*":365,"shop":30}`. A payload whose receivedAt is older is erased
   * automatically (reason `retention`). Unset: payloads are kept until erased on request.
   */
  RETENTION_DAYS: z
    .string()
    .optional()
    .transform((text, ctx) => {
      if (text === undefined || text.trim() === '') return undefined;
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        ctx.addIssue({ code: 'custom', message: 'must be a JSON object of sourceAppId (or "*") to days' });
        return z.NEVER;
      }
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
        ctx.addIssue({ code: 'custom', message: 'must be a JSON object of sourceAppId (or "*") to days' });
        return z.NEVER;
      }
      const out: Record<string, number> = {};
      for (const [app, days] of Object.entries(parsed)) {
        if (typeof days !== 'number' || !Number.isInteger(days) || days < 1 || days > 36_500) {
          ctx.addIssue({ code: 'custom', message: `days of ${JSON.stringify(app)} must be an integer from 1 to 36500` });
          return z.NEVER;
        }
        out[app] = days;
      }
      return out;
    }),
  MAX_PAYLOAD_DEPTH: intFrom(1, 64).default(32),
  MAX_BATCH_SIZE: intFrom(1, 10_000).default(1000),
  MAX_BODY_BYTES: intFrom(1024, 256 * 1024 * 1024).default(16 * 1024 * 1024),
  /**
   * JSON bodies larger than this (or of a length not known in advance) are checked in a worker thread
   * (exact numbers, JSON syntax, list sizes) before the event loop parses them; one it refuses is never
   * parsed on the event loop. A batch of 1,000 ordinary events is well below the default.
   */
  JSON_BODY_THREAD_BYTES: intFrom(0, 256 * 1024 * 1024).default(512 * 1024),
  /**
   * Most rows one storage read of events (a page of `events`, a step of `eventLogged` replay) examines
   * before it returns what it found and where to resume: bounds how long one read holds the server.
   */
  READ_BUDGET_ROWS: intFrom(100, 10_000_000).default(2_000),
  /**
   * Logs whose C2SP tlog-tiles (/tlog/<sourceAppId>/...) anyone may read without an API key: a
   * comma-separated list of sourceAppIds, or `*` for every log. Other logs' tiles need a key that may
   * read the log.
   */
  TLOG_PUBLIC_LOGS: z
    .string()
    .transform((s) =>
      s
        .split(',')
        .map((a) => a.trim())
        .filter((a) => a !== ''),
    )
    .refine(
      (apps) => apps.every((a) => a === '*' || /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(a)),
      'must be `*` or a comma-separated list of sourceAppIds',
    )
    .default([]),
  /** Bytes of full tiles and entry bundles kept in memory (each is computed once, then served from memory). */
  TILE_CACHE_BYTES: intFrom(0, 4 * 1024 * 1024 * 1024).default(32 * 1024 * 1024),
  /**
   * How long logEvent/logEvents with waitForReceipt and POST /v1/events?wait=receipt wait for the
   * checkpoint that makes the receipt ready; when it passes, the events are acknowledged with the
   * receipt marked PENDING.
   */
  RECEIPT_WAIT_TIMEOUT_MS: intFrom(0, 600_000).default(10_000),
  /** GraphQL document limits (graphql-armor), on HTTP and WebSocket alike. */
  GRAPHQL_MAX_DEPTH: intFrom(1, 1000).default(12),
  GRAPHQL_MAX_ALIASES: intFrom(0, 10_000).default(30),
  GRAPHQL_MAX_COST: intFrom(1, 1_000_000_000).default(100_000),
  GRAPHQL_MAX_TOKENS: intFrom(50, 1_000_000).default(5_000),
  GRAPHQL_MAX_DIRECTIVES: intFrom(0, 10_000).default(50),
  /** Selections in one selection set, and fields of an operation with fragments expanded (before validation). */
  GRAPHQL_MAX_SELECTIONS: intFrom(1, 100_000).default(100),
  GRAPHQL_MAX_FIELDS: intFrom(1, 1_000_000).default(1_000),
  /** Page entries one operation may return, across aliases and nesting, `first: $n` included. */
  GRAPHQL_MAX_ITEMS: intFrom(1, 10_000_000).default(2_000),
  /** Bytes of event payloads one answer may carry; the default fits a page of 500 events at MAX_PAYLOAD_BYTES. */
  GRAPHQL_MAX_RESPONSE_BYTES: intFrom(1024, 1024 * 1024 * 1024).default(64 * 1024 * 1024),
  /** Per API key (per remote IP without one); 0 = off. Writes count events, reads count the items asked for (at least 1 per operation). */
  RATE_LIMIT_WRITES_PER_SEC: intFrom(0, 10_000_000).default(0),
  RATE_LIMIT_READS_PER_SEC: intFrom(0, 10_000_000).default(0),
  /** graphql-ws: largest message, time to send connection_init, connection and subscription caps. */
  WS_MAX_PAYLOAD_BYTES: intFrom(1024, 256 * 1024 * 1024).default(1024 * 1024),
  WS_CONNECTION_INIT_TIMEOUT_MS: intFrom(100, 600_000).default(3_000),
  /** graphql-ws ping interval; a client that does not answer within another interval is dropped. 0 = off. */
  WS_KEEP_ALIVE_MS: intFrom(0, 3_600_000).default(12_000),
  /**
   * graphql-ws: how long a client's socket may hold bytes the kernel has not taken (256 KiB unsent ahead of
   * a result, or less with nothing more to send) while the kernel takes none of them before the socket is
   * terminated; with the keep-alive on or off. Not
   * raised to twice WS_KEEP_ALIVE_MS as SSE_FLUSH_TIMEOUT_MS is: whichever bound is reached first drops
   * the client.
   */
  WS_FLUSH_TIMEOUT_MS: intFrom(100, 3_600_000).default(30_000),
  WS_MAX_CONNECTIONS_PER_CLIENT: intFrom(1, 1_000_000).default(500),
  WS_MAX_SUBSCRIPTIONS_PER_CONNECTION: intFrom(1, 1_000_000).default(100),
  WS_MAX_SUBSCRIPTIONS_PER_CLIENT: intFrom(1, 1_000_000).default(1_000),
  /** GraphQL over SSE (/graphql/stream): interval of keep-alive comments (0 = none), open streams per client. */
  SSE_KEEP_ALIVE_MS: intFrom(0, 3_600_000).default(12_000),
  SSE_MAX_CONNECTIONS_PER_CLIENT: intFrom(1, 1_000_000).default(500),
  /**
   * GraphQL over SSE: how long a stream's output may wait for a client that does not read it (a result
   * behind 256 KiB unsent, an ended stream's last messages) before the connection is closed; raised to
   * twice SSE_KEEP_ALIVE_MS when below it.
   */
  SSE_FLUSH_TIMEOUT_MS: intFrom(100, 3_600_000).default(30_000),
  /** Origins (scheme://host[:port]) allowed to open a WebSocket besides the server's own; comma-separated. */
  ALLOWED_ORIGINS: z
    .string()
    .transform((s) =>
      s
        .split(',')
        .map((o) => o.trim().toLowerCase())
        .filter((o) => o !== ''),
    )
    .refine(
      (origins) => origins.every((o) => /^https?:\/\/[^/\s]+$/.test(o)),
      'each must be scheme://host[:port], e.g. https://app.example.com',
    )
    .default([]),
  /** Host header values (host[:port]) accepted besides localhost, 127.0.0.1 and [::1] when HOST is a loopback address. */
  ALLOWED_HOSTS: z
    .string()
    .transform((s) =>
      s
        .split(',')
        .map((h) => h.trim().toLowerCase())
        .filter((h) => h !== ''),
    )
    .default([]),
});

export type Config = z.infer<typeof schema> & { keyName: string; witnessName: string; production: boolean };

/** The environment variables chainlog reads (operator vocabulary, which the API's own texts do not use). */
export const SETTING_NAMES: readonly string[] = Object.keys(schema.shape);

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // Empty strings mean "unset", as shells and compose files often produce them.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = schema.safeParse(cleaned);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  const c = parsed.data;
  if (c.TEST_CLOCK_OFFSET_MS !== 0 && c.NODE_ENV !== 'test') {
    throw new ConfigError('invalid configuration:\n  TEST_CLOCK_OFFSET_MS: is for tests only and needs NODE_ENV=test');
  }
  if (c.FOLLOW_URL && (!c.FOLLOW_VERIFIER_KEY || !c.FOLLOW_API_KEY)) {
    const missing = ['FOLLOW_VERIFIER_KEY', 'FOLLOW_API_KEY'].filter((k) => !c[k as 'FOLLOW_API_KEY']);
    throw new ConfigError(`invalid configuration:\n${missing.map((k) => `  ${k}: is required with FOLLOW_URL`).join('\n')}`);
  }
  if (c.ADVERTISE_URL && !c.PROCESS_SECRET) {
    throw new ConfigError('invalid configuration:\n  PROCESS_SECRET: is required with ADVERTISE_URL');
  }
  if (c.FORWARD_SILENCE_MS > c.FORWARD_TIMEOUT_MS) {
    throw new ConfigError(
      `invalid configuration:\n  FORWARD_SILENCE_MS: must be at most FORWARD_TIMEOUT_MS (${c.FORWARD_TIMEOUT_MS})`,
    );
  }
  const keyName = c.KEY_NAME ?? c.ORIGIN_PREFIX;
  return { ...c, keyName, witnessName: c.WITNESS_NAME ?? `${keyName}/witness`, production: c.NODE_ENV === 'production' };
}
