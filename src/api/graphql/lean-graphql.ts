// POST /graphql on Node's `request` event, before Express: a request in the common form
// (src/api/lean-http.ts) is handed to Apollo's executeHTTPGraphQLRequest directly, without the router's
// layer walk, body-parser, type-is and the Express integration, which cost a lone `logEvent` more than
// Apollo and chainlog's own work do (docs/performance.md, "Single-event requests beside Tessera").
//
// Everything Apollo does is unchanged (its plugins: authorization per field, limits, rate limits,
// metrics; validation, execution, error masking, the answer's status and headers). What comes before
// Apollo is done by the same functions, in the same order, as the Express route: access log and metrics
// (observeRequest), the Host check (only Hosts the origin policy accepts are taken), authentication
// before the body is read (graphqlRefusal), the exact-number rule before the parse (verifyExactNumbers),
// body-parser's strict JSON (parseJsonBody), errors before Apollo answered by errorAnswer.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HeaderMap, type ApolloServer } from '@apollo/server';
import { principalFrom } from '../access.js';
import { graphqlRefusal } from '../auth/express.js';
import { createApiContext, type ApiContext, type ApiDeps } from '../context.js';
import { rememberRemoteAddress } from '../hardening/apollo-plugin.js';
import type { OriginPolicy } from '../hardening/origin.js';
import { notJson } from '../json-body.js';
import { leanTakes, readBody, sendJson, type LeanRoute } from '../lean-http.js';
import { errorAnswer } from '../rest/errors.js';
import { observeRequest } from '../rest/http-observer.js';
import { parseJsonBody } from '../validation/body-check.js';
import { verifyExactNumbers } from '../validation/exact-numbers.js';

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
  const { deps, originPolicy, maxBodyBytes } = opts;
  const errorOptions = { logger: deps.logger, production: deps.config.production, metrics: deps.metrics };

  const serve = async (apollo: ApolloServer<ApiContext>, req: IncomingMessage, res: ServerResponse): Promise<void> => {
    try {
      const principal = await principalFrom(deps.auth, req.headers);
      const refusal = graphqlRefusal(deps, principal);
      if (refusal) return sendJson(res, refusal.status, refusal.body);
      const bytes = await readBody(req);
      if (bytes === null) return; // the client went away before sending its body: no one to answer
      verifyExactNumbers(undefined, undefined, bytes);
      let body: unknown;
      try {
        body = parseJsonBody(bytes.toString('utf8'));
      } catch {
        throw notJson();
      }
      const headers = new HeaderMap();
      for (const [name, value] of Object.entries(req.headers)) {
        if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(', ') : value);
      }
      const answer = await apollo.executeHTTPGraphQLRequest({
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
    } catch (err) {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const answer = errorAnswer(err, errorOptions, 'graphql', { method: 'POST', path: LEAN_GRAPHQL_PATH });
      for (const [name, value] of Object.entries(answer.headers)) res.setHeader(name, value);
      sendJson(res, answer.status, answer.body);
    }
  };

  return (req, res) => {
    const apollo = opts.apollo();
    if (!apollo || !leanTakes(req, LEAN_GRAPHQL_PATH, maxBodyBytes) || originPolicy.refusedHost(req) !== undefined) {
      return false;
    }
    observeRequest(deps.metrics, deps.logger, 'POST', LEAN_GRAPHQL_PATH, res);
    void serve(apollo, req, res);
    return true;
  };
}
