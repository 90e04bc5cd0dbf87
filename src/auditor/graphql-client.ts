// The auditor's GraphQL requests, over the chainlog client (src/client). It sorts failures into "cannot
// talk to the service" (ConnectionError) and "the service answered with an error" (GraphqlError), and
// checks each answer's shape with zod: a response the schema does not allow is a finding about the
// server (ResponseShapeError), not a connection problem.
import type { z } from 'zod';
import { ChainlogGraphqlError, ChainlogTransportError, createChainlogClient, type ChainlogClient } from '../client/index.js';

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
  private readonly client: ChainlogClient;

  constructor(options: GraphqlClientOptions) {
    this.client = createChainlogClient({ url: options.url, apiKey: options.apiKey, timeoutMs: options.timeoutMs ?? 30_000 });
  }

  /** Sent once (no retry): a proof the server does not give is itself what the audit reports. */
  async request<S extends z.ZodType>(query: string, variables: Record<string, unknown>, schema: S): Promise<z.output<S>> {
    let data: unknown;
    try {
      data = await this.client.request<unknown, Record<string, unknown>>(query, variables);
    } catch (err) {
      if (err instanceof ChainlogGraphqlError) {
        const rule = typeof err.extensions.rule === 'string' ? err.extensions.rule : null;
        throw new GraphqlError(err.message, err.code, rule);
      }
      if (err instanceof ChainlogTransportError) {
        // An HTTP 2xx answer that is no GraphQL result is the server's fault, as a wrong shape is.
        if (err.status !== null && err.status >= 200 && err.status < 300) throw new ResponseShapeError(err.message);
        throw new ConnectionError(err.message);
      }
      throw err;
    }
    const parsed = schema.safeParse(data);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new ResponseShapeError(`unexpected response shape at ${issue?.path.join('.') ?? '?'}: ${issue?.message}`);
    }
    return parsed.data;
  }
}
