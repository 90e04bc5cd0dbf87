// One log ("hot") written through several API processes that share one MongoDB database (the FerretDB
// test server) with forwarding on (ADVERTISE_URL, PROCESS_SECRET): what the forwarding tests share. The
// processes themselves (their clocks, gates and addresses) are each test's own.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { expect } from 'vitest';
import { loadSigningKey } from '../../src/log/signing-key.js';
import { metric } from './metrics.js';
import { freshDbName, startMongoTestServer, type MongoTestServer } from './mongo-test-server.js';
import type { ServiceProcess } from './service-process.js';

const LOG_EVENTS = `mutation ($inputs: [LogEventInput!]!) { logEvents(inputs: $inputs) { seq } }`;
const EVENTS = 'query ($f: EventFilter) { events(filter: $f, first: 100) { edges { node { seq payload } } } }';

/** A lease of the hot log, as the database stores it. */
export interface LeaseDoc {
  fence: number;
  owner: string;
  expiresAt: number;
  address?: string;
}

export interface LogEventsAnswer {
  data?: { logEvents: Array<{ seq: number }> };
  errors?: unknown[];
}

/** One timestamp for every event: a retry carries the same content as its first try. */
const TIMESTAMP = new Date().toISOString();

export class HotLog {
  private readonly dirs: string[] = [];

  private constructor(
    private readonly mongo: MongoTestServer,
    private readonly client: MongoClient,
    private readonly dbName: string,
    /** The events' type: each test's own, so that its events are told apart in a failure's output. */
    private readonly eventType: string,
    /** The settings every process of the test shares: the database, one signing key, no auth, forwarding. */
    readonly env: Record<string, string>,
  ) {}

  /** Starts the test server and a fresh database; `leaseTtlMs` is every process's LEASE_TTL_MS unless it sets its own. */
  static async start(opts: { eventType: string; secret: string; leaseTtlMs: number }): Promise<HotLog> {
    const mongo = await startMongoTestServer();
    const client = new MongoClient(mongo.uri);
    const dbName = freshDbName();
    const keyDir = mkdtempSync(join(tmpdir(), 'chainlog-hot-log-key-'));
    const hot = new HotLog(mongo, client, dbName, opts.eventType, {
      MONGODB_URI: mongo.uri,
      MONGODB_DB: dbName,
      SIGNING_KEY_FILE: loadSigningKey({ dataDir: keyDir }).source,
      AUTH: 'off',
      LEASE_TTL_MS: String(opts.leaseTtlMs),
      CHECKPOINT_INTERVAL_MS: '500',
      PROCESS_SECRET: opts.secret,
    });
    hot.dirs.push(keyDir);
    return hot;
  }

  /** A data directory for one process, removed by `stop`. */
  dataDir(): string {
    const dir = mkdtempSync(join(tmpdir(), 'chainlog-hot-log-'));
    this.dirs.push(dir);
    return dir;
  }

  /** `logEvents` with the one event of idempotency key `key`, through `p`, answered as it is. */
  async send(p: ServiceProcess, key: string): Promise<LogEventsAnswer> {
    const res = await fetch(`${p.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: LOG_EVENTS, variables: { inputs: [this.input(key)] } }),
    });
    return (await res.json()) as LogEventsAnswer;
  }

  /** `send`, which must be acknowledged: the event's position. */
  async append(p: ServiceProcess, key: string): Promise<number> {
    const body = await this.send(p, key);
    expect(body.errors, JSON.stringify(body.errors)).toBeUndefined();
    return body.data!.logEvents[0]!.seq;
  }

  /** The hot log's events as `p` answers them, in order of position. */
  async events(p: ServiceProcess): Promise<Array<{ seq: number; payload: unknown }>> {
    const res = await fetch(`${p.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: EVENTS, variables: { f: { sourceAppIds: ['hot'] } } }),
    });
    const body = (await res.json()) as { data: { events: { edges: Array<{ node: { seq: number; payload: unknown } }> } } };
    return body.data.events.edges.map((e) => e.node).sort((x, y) => x.seq - y.seq);
  }

  /** The events the keys name, at positions 0, 1, … in that order: what `events` answers when each was stored once. */
  static stored(keys: string[]): Array<{ seq: number; payload: unknown }> {
    return keys.map((key, seq) => ({ seq, payload: { key } }));
  }

  /** The lease of the hot log with the highest fence, as stored. */
  async newestLease(): Promise<LeaseDoc> {
    const doc = await this.leases()
      .find({ name: 'log:hot' }, { sort: { fence: -1 }, limit: 1 })
      .next();
    return doc!;
  }

  /** The hot log's lease of fence `fence`, as stored. */
  async lease(fence: number): Promise<LeaseDoc> {
    return (await this.leases().findOne({ name: 'log:hot', fence }))!;
  }

  async stop(): Promise<void> {
    await this.client.close();
    await this.mongo.stop();
    for (const d of this.dirs) rmSync(d, { recursive: true, force: true });
  }

  private input(key: string) {
    return { sourceAppId: 'hot', eventType: this.eventType, timestamp: TIMESTAMP, payload: { key }, idempotencyKey: key };
  }

  private leases() {
    return this.client.db(this.dbName).collection<LeaseDoc & { name: string }>('leases');
  }
}

/** How many of `p`'s forwards ended with `outcome` (chainlog_append_forwards). */
export const forwards = (p: ServiceProcess, outcome: string) =>
  metric({ url: p.url, authHeaders: () => ({}) }, 'chainlog_append_forwards', { outcome });
