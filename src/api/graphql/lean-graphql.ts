// POST /graphql on Node's `request` event, before Express (src/api/lean-http.ts): a request in the
// common form is handed to Apollo's executeHTTPGraphQLRequest directly, without the router's layer walk,
// body-parser, type-is and the Express integration, which cost a lone `logEvent` more than Apollo and
// chainlog's own work do (docs/performance.md, "Session 29: `logEvent` without Express").
//
// Everything Apollo does is unchanged: its plugins (authorization per field, limits, rate limits,
// metrics), validation, execution, error masking, the answer's status and headers.
import { HeaderMap, type ApolloServer } from '@apollo/server';
import { graphqlRefusal } from '../auth/express.js';
import { createApiContext, type ApiContext, type ApiDeps } from '../context.js';
import { rememberRemoteAddress } from '../hardening/apollo-plugin.js';
import type { OriginPolicy } from '../hardening/origin.js';
import { leanRoute, type LeanRoute } from '../lean-http.js';

export const LEAN_GRAPHQL_PATH = '/graphql';

export interface LeanGraphqlOptions {
  deps: ApiDeps;
  originPolicy: OriginPolicy;
  /** Bodies up to this many bytes are served here (min(JSON_BODY_THREAD_BYTES, MAX_BODY_BYTES)); larger go to Express. */
  maxBodyBytes: number;
  /** Apollo once started; until then every request goes to Express (whose route answers it). */
  apollo: () => ApolloServer<ApiContext> | undefined;
}

export function leanGraphqlRoute(opts: LeanGraphqlOptions): LeanRoute {
  const { deps } = opts;
  return leanRoute({
    deps,
    originPolicy: opts.originPolicy,
    path: LEAN_GRAPHQL_PATH,
    transport: 'graphql',
    maxBodyBytes: opts.maxBodyBytes,
    ready: () => opts.apollo() !== undefined,
    refusal: (principal) => graphqlRefusal(deps, principal),
    answer: async (req, res, principal, body) => {
      const headers = new HeaderMap();
      for (const [name, value] of Object.entries(req.headers)) {
        if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(', ') : value);
      }
      const answer = await opts.apollo()!.executeHTTPGraphQLRequest({
        httpGraphQLRequest: { method: 'POST', headers, search: '', body },
        context: async () => rememberRemoteAddress(createApiContext(deps, 'graphql', principal), req.socket.remoteAddress),
      });
      for (const [name, value] of answer.headers) res.setHeader(name, value);
      res.statusCode = answer.status ?? 200;
      if (answer.body.kind === 'complete') {
        // As Express's res.send sends a string: Apollo has set its Content-Type.
        res.setHeader('Content-Length', Buffer.byteLength(answer.body.string));
        res.end(answer.body.string);
        return;
      }
      for await (const chunk of answer.body.asyncIterator) res.write(chunk);
      res.end();
    },
  });
}
