// A small GraphQL-over-HTTP client on node:http with a keep-alive Agent: each benchmark client keeps
// its connection, so figures measure the server, not TCP handshakes.
import { Agent, request } from 'node:http';

export class GraphQLRequestError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly errors: unknown,
  ) {
    super(message);
    this.name = 'GraphQLRequestError';
  }
}

export interface GraphQLClientOptions {
  /** Connections this client may hold open (= concurrent requests it can have in flight). */
  maxSockets?: number;
  timeoutMs?: number;
  /** Sent as `x-api-key` (a server with AUTH=on); none by default (the benchmark's servers run AUTH=off). */
  apiKey?: string;
}

export class GraphQLClient {
  private readonly agent: Agent;
  private readonly endpoint: URL;
  private readonly timeoutMs: number;
  private readonly apiKey: string | undefined;

  constructor(baseUrl: string, options: GraphQLClientOptions = {}) {
    this.endpoint = new URL('/graphql', baseUrl);
    this.agent = new Agent({ keepAlive: true, maxSockets: options.maxSockets ?? 8, maxFreeSockets: options.maxSockets ?? 8 });
    this.timeoutMs = options.timeoutMs ?? 120_000;
    this.apiKey = options.apiKey;
  }

  /** POSTs the operation; resolves with `data`, rejects with GraphQLRequestError if there are errors. */
  async request<T = Record<string, unknown>>(query: string, variables?: Record<string, unknown>): Promise<T> {
    const { status, body } = await this.post(JSON.stringify(variables === undefined ? { query } : { query, variables }));
    let parsed: { data?: T | null; errors?: Array<{ message?: string; extensions?: { code?: string } }> };
    try {
      parsed = JSON.parse(body) as typeof parsed;
    } catch {
      throw new GraphQLRequestError(`HTTP ${status}: ${body.slice(0, 300)}`, status, null);
    }
    if (parsed.errors?.length || parsed.data == null) {
      const first = parsed.errors?.[0];
      const code = first?.extensions?.code ? ` [${first.extensions.code}]` : '';
      throw new GraphQLRequestError(`HTTP ${status}: ${first?.message ?? 'no data'}${code}`, status, parsed.errors ?? null);
    }
    return parsed.data;
  }

  post(body: string): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = request(
        this.endpoint,
        {
          method: 'POST',
          agent: this.agent,
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
            ...(this.apiKey !== undefined && { 'x-api-key': this.apiKey }),
          },
          timeout: this.timeoutMs,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`request timed out after ${this.timeoutMs} ms`)));
      req.on('error', reject);
      req.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/** GET a path; resolves with the status (0 when the connection fails). */
export function httpGetStatus(url: string, timeoutMs = 2000): Promise<number> {
  return new Promise((resolve) => {
    const req = request(url, { method: 'GET', timeout: timeoutMs }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
    req.end();
  });
}

/** Runs `worker(i)` for i in [0, n) concurrently and waits for all. */
export async function parallel(n: number, worker: (i: number) => Promise<void>): Promise<void> {
  await Promise.all(Array.from({ length: n }, (_, i) => worker(i)));
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
