// The primary as a mirror sees it: its public GraphQL API over HTTP, with an auditor key.
import type { JsonObject } from '../core/json.js';
import { readBoundedText } from '../net/bounded-answer.js';

/** How long one request to the primary may take before it counts as failed. */
const REQUEST_TIMEOUT_MS = 30_000;
/**
 * The most bytes of one answer the mirror reads: the primary's own bound (GRAPHQL_MAX_RESPONSE_BYTES,
 * 64 MiB by default) with room for a primary configured higher, as the auditor reads.
 */
export const MAX_PRIMARY_ANSWER_BYTES = 128 * 1024 * 1024;

/** The primary could not be asked (network, time limit, 5xx, UNAVAILABLE, RATE_LIMITED): retried with backoff. */
export class PrimaryUnavailableError extends Error {
  override name = 'PrimaryUnavailableError';
}

/** The primary refused the request or answered with an error other than a passing one. */
export class PrimaryRefusedError extends Error {
  override name = 'PrimaryRefusedError';
  constructor(
    message: string,
    /** The primary's extensions.code (UNAUTHENTICATED, FORBIDDEN, NOT_FOUND, …). */
    readonly code: string,
  ) {
    super(message);
  }
}

export interface PrimaryInfo {
  verifierKey: string;
  originPrefix: string;
  checkpointIntervalMs: number;
}

export interface PrimaryCheckpoint {
  treeSize: number;
  rootHash: string;
  note: string;
  publishedAt: string;
}

export interface PrimaryLog {
  sourceAppId: string;
  origin: string;
  latestCheckpoint: PrimaryCheckpoint | null;
}

/** An event as the primary serves it (GraphQL Event; times are the leaf's ISO form). */
export interface PrimaryEvent {
  sourceAppId: string;
  seq: number;
  eventType: string;
  timestamp: string;
  receivedAt: string;
  /** Null once erased (leaf version 2). */
  payload: JsonObject | null;
  /** Leaf version 2: the payload commitment the leaf holds, and its salt while the payload exists. */
  payloadHash?: string | null;
  payloadSalt?: string | null;
  prevHash: string;
  hash: string;
}

export interface PrimaryInclusionProof {
  leafIndex: number;
  treeSize: number;
  leafHash: string;
  rootHash: string;
  hashes: string[];
  checkpoint: { note: string };
}

const CHECKPOINT_FIELDS = 'treeSize rootHash note publishedAt';
const EVENT_FIELDS = 'sourceAppId seq eventType timestamp receivedAt payload payloadHash payloadSalt prevHash hash';
/** Logs and checkpoints one page asks for (the primary's largest page). */
export const PRIMARY_PAGE = 500;
/** Events one rangeProof returns at most. */
export const PRIMARY_RANGE = 1000;

export class PrimaryClient {
  constructor(
    readonly url: string,
    private readonly apiKey: string,
  ) {}

  private async gql<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
    let res: Response;
    try {
      res = await fetch(`${this.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': this.apiKey },
        body: JSON.stringify({ query, variables }),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (err) {
      throw new PrimaryUnavailableError(`primary ${this.url} cannot be reached: ${(err as Error).message}`, { cause: err });
    }
    let text: string;
    try {
      text = await readBoundedText(res, MAX_PRIMARY_ANSWER_BYTES);
    } catch (err) {
      // Too long, cut off, or past the time limit: this answer is not read; the request is retried.
      throw new PrimaryUnavailableError(`primary ${this.url} answered HTTP ${res.status}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    let body: { data?: T; errors?: Array<{ message: string; extensions?: { code?: unknown } }> };
    try {
      body = JSON.parse(text) as typeof body;
    } catch (err) {
      throw new PrimaryUnavailableError(`primary ${this.url} answered HTTP ${res.status} without JSON`, { cause: err });
    }
    const error = body.errors?.[0];
    if (error) {
      const code = typeof error.extensions?.code === 'string' ? error.extensions.code : 'UNKNOWN';
      const message = `primary ${this.url} answered ${code}: ${error.message}`;
      if (code === 'UNAVAILABLE' || code === 'RATE_LIMITED' || res.status >= 500) throw new PrimaryUnavailableError(message);
      throw new PrimaryRefusedError(message, code);
    }
    if (!body.data) throw new PrimaryUnavailableError(`primary ${this.url} answered HTTP ${res.status} without data`);
    return body.data;
  }

  /**
   * Who the primary is, and whether the key may ask for proofs: an auditor key gets NOT_FOUND for the
   * proof of a log that does not exist, any other key FORBIDDEN (or UNAUTHENTICATED), which this throws.
   */
  async probe(): Promise<PrimaryInfo> {
    const { serverInfo } = await this.gql<{ serverInfo: PrimaryInfo }>(
      'query { serverInfo { verifierKey originPrefix checkpointIntervalMs } }',
    );
    try {
      await this.gql('query { consistencyProof(sourceAppId: "chainlog-mirror-probe", fromSize: 0, toSize: 0) { toSize } }');
    } catch (err) {
      if (!(err instanceof PrimaryRefusedError && err.code === 'NOT_FOUND')) throw err;
    }
    return serverInfo;
  }

  /** Logs by sourceAppId after `after` (a cursor of the primary), with their latest checkpoints. */
  async logs(after: string | null): Promise<{ logs: PrimaryLog[]; endCursor: string | null; hasNextPage: boolean }> {
    const data = await this.gql<{
      logs: { nodes: PrimaryLog[]; pageInfo: { endCursor: string | null; hasNextPage: boolean } };
    }>(
      `query($first: Int, $after: String) { logs(first: $first, after: $after) {
        nodes { sourceAppId origin latestCheckpoint { ${CHECKPOINT_FIELDS} } }
        pageInfo { endCursor hasNextPage } } }`,
      { first: PRIMARY_PAGE, after },
    );
    return { logs: data.logs.nodes, ...data.logs.pageInfo };
  }

  /**
   * One log with its latest checkpoint, and its size as the primary states it now (unverified: a bar
   * to wait for, never a fact to rely on); null if the primary has no such log.
   */
  async log(sourceAppId: string): Promise<(PrimaryLog & { size: number }) | null> {
    const data = await this.gql<{ log: (PrimaryLog & { size: number }) | null }>(
      `query($app: String!) { log(sourceAppId: $app) { sourceAppId origin size latestCheckpoint { ${CHECKPOINT_FIELDS} } } }`,
      { app: sourceAppId },
    );
    return data.log;
  }

  /** A page of one log's checkpoints, largest first, after `after` (a cursor of the primary). */
  async checkpointsDesc(
    sourceAppId: string,
    after: string | null,
  ): Promise<{ checkpoints: PrimaryCheckpoint[]; endCursor: string | null; hasNextPage: boolean }> {
    const data = await this.gql<{
      log: { checkpoints: { nodes: PrimaryCheckpoint[]; pageInfo: { endCursor: string | null; hasNextPage: boolean } } } | null;
    }>(
      `query($app: String!, $first: Int, $after: String) { log(sourceAppId: $app) {
        checkpoints(first: $first, after: $after, order: DESC) { nodes { ${CHECKPOINT_FIELDS} } pageInfo { endCursor hasNextPage } } } }`,
      { app: sourceAppId, first: PRIMARY_PAGE, after },
    );
    if (!data.log) return { checkpoints: [], endCursor: null, hasNextPage: false };
    return { checkpoints: data.log.checkpoints.nodes, ...data.log.checkpoints.pageInfo };
  }

  /** Events [start, end) of a log (end - start <= PRIMARY_RANGE), as of its tree of size treeSize. */
  async events(sourceAppId: string, start: number, end: number, treeSize: number): Promise<PrimaryEvent[]> {
    const data = await this.gql<{ rangeProof: { events: PrimaryEvent[] } }>(
      `query($app: String!, $start: SafeInt!, $end: SafeInt!, $size: SafeInt) {
        rangeProof(sourceAppId: $app, start: $start, end: $end, treeSize: $size) { events { ${EVENT_FIELDS} } } }`,
      { app: sourceAppId, start, end, size: treeSize },
    );
    return data.rangeProof.events;
  }

  /** One event and its inclusion proof as the primary serves them now (evidence of an inconsistency). */
  async eventWithProof(
    sourceAppId: string,
    seq: number,
    treeSize: number,
  ): Promise<{ event: PrimaryEvent | null; proof: PrimaryInclusionProof | null }> {
    const data = await this.gql<{ event: PrimaryEvent | null; inclusionProof: PrimaryInclusionProof | null }>(
      `query($id: ID!, $app: String!, $seq: SafeInt!, $size: SafeInt) { event(id: $id) { ${EVENT_FIELDS} }
        inclusionProof(sourceAppId: $app, seq: $seq, treeSize: $size) { leafIndex treeSize leafHash rootHash hashes checkpoint { note } } }`,
      { id: `${sourceAppId}/${seq}`, app: sourceAppId, seq, size: treeSize },
    );
    return { event: data.event, proof: data.inclusionProof };
  }
}
