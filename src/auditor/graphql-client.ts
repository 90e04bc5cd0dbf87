// A minimal GraphQL-over-HTTP client on fetch. It sorts failures into "cannot talk to the service"
// (ConnectionError) and "the service answered with an error" (GraphqlError); shapes are checked with zod.
import type { z } from 'zod';

export class ConnectionError extends Error {
  override name = 'ConnectionError';
}

export class GraphqlError extends Error {
  override name = 'GraphqlError';
  constructor(
    message: string,
    readonly code: string | null,
    /** extensions.rule, e.g. `role` when the key's role may not run the query. */
    readonly rule: string | null = null,
  ) {
    super(message);
  }
}

/** The response is not what the schema says: a finding about the server, not a connection problem. */
export class ResponseShapeError extends Error {
  override name = 'ResponseShapeError';
}

export interface GraphqlClientOptions {
  /** Service base URL; requests go to <url>/graphql. */
  url: string;
  apiKey?: string | undefined;
  timeoutMs?: number;
}

export class GraphqlClient {
  private readonly endpoint: string;
  private readonly headers: Record<string, string>;
  private readonly timeoutMs: number;

  constructor(options: GraphqlClientOptions) {
    this.endpoint = `${options.url.replace(/\/+$/, '')}/graphql`;
    this.headers = { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json' };
    if (options.apiKey) this.headers['x-api-key'] = options.apiKey;
    this.timeoutMs = options.timeoutMs ?? 30_000;
  }

  async request<S extends z.ZodType>(query: string, variables: Record<string, unknown>, schema: S): Promise<z.output<S>> {
    let res: Response;
    let text: string;
    try {
      res = await fetch(this.endpoint, {
        method: 'POST',
        headers: this.headers,
        body: JSON.stringify({ query, variables }),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      text = await res.text();
    } catch (err) {
      const cause = (err as { cause?: { message?: string } }).cause?.message;
      throw new ConnectionError(`cannot reach ${this.endpoint}: ${(err as Error).message}${cause ? ` (${cause})` : ''}`);
    }
    let body: { data?: unknown; errors?: Array<{ message?: string; extensions?: { code?: unknown; rule?: unknown } }> };
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      throw new ConnectionError(`${this.endpoint} answered HTTP ${res.status} with a non-JSON body: ${text.slice(0, 200)}`);
    }
    const first = body.errors?.[0];
    if (first) {
      const code = typeof first.extensions?.code === 'string' ? first.extensions.code : null;
      const rule = typeof first.extensions?.rule === 'string' ? first.extensions.rule : null;
      throw new GraphqlError(`${first.message ?? 'GraphQL error'}${code ? ` [${code}]` : ''}`, code, rule);
    }
    if (!res.ok) throw new ConnectionError(`${this.endpoint} answered HTTP ${res.status}`);
    const parsed = schema.safeParse(body.data);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new ResponseShapeError(`unexpected response shape at ${issue?.path.join('.') ?? '?'}: ${issue?.message}`);
    }
    return parsed.data;
  }
}
