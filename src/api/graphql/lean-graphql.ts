// POST /graphql on Node's `request` event, before Express (src/api/lean-http.ts). A request in the
// common form (one operation: a query string, variables an object if any, an operationName if any, no
// extensions; an Accept that gets application/json) whose operation passes every check before execution
// is executed here, without Apollo's request pipeline; every other request, and every operation refused
// before execution, goes to Apollo's executeHTTPGraphQLRequest, which answers it as the Express route
// does (docs/performance.md, "Session 29: `logEvent` without Express" and "Session 30: `logEvent`
// without Apollo").
//
// What is executed here is checked by the rules graphql-ws and SSE apply outside Apollo
// (src/api/subscriptions/prepare-operation.ts: parse within the token limit, shape, validation with the
// document limits and, in production, no introspection, the operation, the role, items asked for,
// variable sizes), then charged to the rate limit as the hardening plugin charges it. None of these
// checks has an effect before the charge, and a refused charge takes nothing, so an operation refused
// here is refused by Apollo the same way, with its own answer and metrics. Then graphql-js's execute
// coerces the variables (once: the preparer leaves them to it over HTTP) and runs the operation, as in
// Apollo's pipeline after the charge. An ingest mutation (root fields logEvent and logEvents only) runs
// as a query graphql-jit compiles once the operation comes back: the same resolvers and scalars, a fifth of
// graphql-js's execution time and less garbage per event (docs/performance.md, "logEvent compiled by
// graphql-jit (session 44)"). graphql-jit words its refusals of variables otherwise than graphql-js, so
// an operation it refuses before execution (no data) goes to graphql-js's execute, whose refusal is
// Apollo's. The answer is made as Apollo makes it: a variable's refusal as Apollo's UserInputError
// (BAD_USER_INPUT, 400 when there is no data), errors normalized and passed through the one formatter,
// the observeOperations and hardening plugins' willSendResponse (recordOperation, finishHttpResponse),
// the fields ordered errors, data, extensions, and a final newline.
import { HeaderMap, type ApolloServer, type GraphQLResponse, type HTTPGraphQLHead } from '@apollo/server';
import {
  execute,
  GraphQLError,
  Kind,
  type DocumentNode,
  type ExecutionResult,
  type GraphQLFormattedError,
  type GraphQLSchema,
  type OperationDefinitionNode,
} from 'graphql';
import { compileQuery, isCompiledQuery, type CompiledQuery } from 'graphql-jit';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { rootFieldsOf } from '../access.js';
import { graphqlRefusal } from '../auth/express.js';
import { createApiContext, type ApiContext, type ApiDeps, type Principal } from '../context.js';
import { ApiError } from '../errors.js';
import { finishHttpResponse, rememberRemoteAddress } from '../hardening/apollo-plugin.js';
import type { Hardening } from '../hardening/index.js';
import { chargeOperation } from '../hardening/operations.js';
import type { OriginPolicy } from '../hardening/origin.js';
import { clientKey } from '../hardening/rate-limit.js';
import { leanRoute, type LeanRoute } from '../lean-http.js';
import { createOperationPreparer, type OperationRequest } from '../subscriptions/prepare-operation.js';
import { recordOperation } from './apollo.js';
import type { ErrorFormatter } from './format-error.js';

export const LEAN_GRAPHQL_PATH = '/graphql';

/** Apollo's content type of a single result when the Accept header is absent or prefers application/json. */
const APPLICATION_JSON = 'application/json; charset=utf-8';

/** Accept headers whose negotiation (Apollo's chooseContentTypeForSingleResultResponse) gives application/json. */
const JSON_ACCEPTS = new Set([undefined, '*/*', 'application/json', 'application/json; charset=utf-8']);

const BODY_KEYS = new Set(['query', 'variables', 'operationName']);

/** The root fields of the operations graphql-jit runs: the ingest mutations, where single events spend. */
const COMPILED_FIELDS = new Set(['logEvent', 'logEvents']);

export interface LeanGraphqlOptions {
  deps: ApiDeps;
  originPolicy: OriginPolicy;
  /** Bodies up to this many bytes are served here (min(JSON_BODY_THREAD_BYTES, MAX_BODY_BYTES)); larger go to Express. */
  maxBodyBytes: number;
  /** Apollo once started; until then every request goes to Express (whose route answers it). */
  apollo: () => ApolloServer<ApiContext> | undefined;
  /** The schema, hardening and error formatter Apollo was started with. */
  schema: GraphQLSchema;
  hardening: Hardening;
  formatError: ErrorFormatter;
}

export function leanGraphqlRoute(opts: LeanGraphqlOptions): LeanRoute {
  const { deps, schema, hardening, formatError } = opts;
  const prepare = createOperationPreparer({ schema, deps, hardening, transport: 'http' });
  const admitAll = async () => undefined;
  const compiledFor = compiledOnReturn((document, operation) => {
    const fields = operation.operation === 'mutation' ? rootFieldsOf(document, operation) : [];
    const ingest = fields.length > 0 && fields.every((f) => COMPILED_FIELDS.has(f));
    return ingest ? compiledOrNull(schema, document, operation) : null;
  });

  /** Runs the operation: compiled where it is an ingest mutation, else (and for every refusal) by graphql-js. */
  const run = async (
    document: DocumentNode,
    operation: OperationDefinitionNode,
    contextValue: ApiContext,
    request: OperationRequest & { variables?: Record<string, unknown> },
  ): Promise<ExecutionResult> => {
    const query = compiledFor(document, operation);
    if (query) {
      const result = (await query.query(undefined, contextValue, request.variables ?? {})) as ExecutionResult;
      // With data it ran; without, it refused the variables before any resolver ran.
      if (result.data !== undefined) return result;
    }
    return execute({ schema, document, contextValue, variableValues: request.variables, operationName: request.operationName });
  };

  /** Executes the request and answers it; false (nothing answered, nothing charged) when Apollo must. */
  const executeHere = async (
    req: IncomingMessage,
    res: ServerResponse,
    principal: Principal,
    body: unknown,
  ): Promise<boolean> => {
    const started = performance.now();
    const request = commonRequest(body);
    if (!request || !JSON_ACCEPTS.has(req.headers.accept)) return false;
    const prepared = await prepare(principal, request, admitAll);
    if (!('document' in prepared)) return false;
    const { document, operation } = prepared;
    if (operation.operation === 'subscription') return false;
    const remoteAddress = req.socket.remoteAddress;
    try {
      await chargeOperation(hardening.rateLimits, clientKey(principal, remoteAddress), document, operation, request.variables);
    } catch (err) {
      if (err instanceof ApiError) return false;
      throw err;
    }
    const contextValue = rememberRemoteAddress(createApiContext(deps, 'graphql', principal), remoteAddress);
    const http: HTTPGraphQLHead = { status: undefined, headers: new HeaderMap() };
    let response: GraphQLResponse;
    try {
      const result = await run(document, operation, contextValue, request);
      const errors = result.errors?.map((e) =>
        isBadUserInputGraphQLError(e) && e.extensions.code == null ? userInputError(e) : e,
      );
      const formattedErrors = errors ? formatErrors(errors, formatError, http) : undefined;
      // As Apollo with status400ForVariableCoercionErrors (its default): refused variables, no data.
      if (errors?.length && result.data === undefined && !http.status) http.status = 400;
      response = { http, body: { kind: 'single', singleResult: { ...result, errors: formattedErrors } } };
    } catch (err) {
      // As Apollo's sendErrorResponse: the error alone, 500 unless the error says otherwise.
      const errors = formatErrors([ensureGraphQLError(err)], formatError, http);
      http.status ??= 500;
      response = { http, body: { kind: 'single', singleResult: { errors } } };
    }
    recordOperation(deps.metrics, response, operation.operation, started);
    finishHttpResponse(response, undefined);
    for (const [name, value] of response.http.headers) res.setHeader(name, value);
    res.setHeader('content-type', APPLICATION_JSON);
    res.statusCode = response.http.status ?? 200;
    const single = response.body.kind === 'single' ? response.body.singleResult : {};
    const text = JSON.stringify({ errors: single.errors, data: single.data, extensions: single.extensions }) + '\n';
    res.setHeader('Content-Length', Buffer.byteLength(text));
    res.end(text);
    return true;
  };

  return leanRoute({
    deps,
    originPolicy: opts.originPolicy,
    path: LEAN_GRAPHQL_PATH,
    transport: 'graphql',
    maxBodyBytes: opts.maxBodyBytes,
    ready: () => opts.apollo() !== undefined,
    refusal: (principal) => graphqlRefusal(deps, principal),
    answer: async (req, res, principal, body) => {
      if (await executeHere(req, res, principal, body)) return;
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

/**
 * Compiled queries by operation node (the preparer caches documents by query text, so a repeated
 * operation comes back as the same node): `compile` runs for an operation the second time it is asked
 * for, and its answer (a query, or null where graphql-js's execute runs the operation) is kept; the first
 * time the answer is null. Compiling costs about three validations of the same text, so a client that
 * sends ever new documents (or ones too long to be cached, which come back as new nodes) never makes the
 * server compile.
 */
export function compiledOnReturn(
  compile: (document: DocumentNode, operation: OperationDefinitionNode) => CompiledQuery | null,
): (document: DocumentNode, operation: OperationDefinitionNode) => CompiledQuery | null {
  const compiled = new WeakMap<OperationDefinitionNode, CompiledQuery | null | 'once'>();
  return (document, operation) => {
    const known = compiled.get(operation);
    if (known === undefined) {
      compiled.set(operation, 'once');
      return null;
    }
    if (known !== 'once') return known;
    const query = compile(document, operation);
    compiled.set(operation, query);
    return query;
  };
}

/**
 * graphql-jit's compiled query of `operation`, or null where it cannot compile it (graphql-js runs it
 * then). compileQuery answers what it cannot compile with errors; it does not throw.
 */
export function compiledOrNull(
  schema: GraphQLSchema,
  document: DocumentNode,
  operation: OperationDefinitionNode,
): CompiledQuery | null {
  const made = compileQuery(schema, document, operation.name?.value);
  return isCompiledQuery(made) ? made : null;
}

/** The body as one operation in the common form, or undefined when Apollo must read it. */
function commonRequest(body: unknown): (OperationRequest & { variables?: Record<string, unknown> }) | undefined {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return undefined;
  const b = body as Record<string, unknown>;
  for (const key in b) if (!BODY_KEYS.has(key)) return undefined;
  const { query, variables, operationName } = b;
  if (typeof query !== 'string' || query === '') return undefined;
  if (operationName !== undefined && operationName !== null && typeof operationName !== 'string') return undefined;
  if (variables !== undefined && variables !== null && !isPlainObject(variables)) return undefined;
  return {
    query,
    ...(typeof operationName === 'string' && { operationName }),
    ...(variables !== undefined && variables !== null && { variables: variables as Record<string, unknown> }),
  };
}

const isPlainObject = (v: unknown): boolean =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype;

/**
 * As Apollo's normalizeAndFormatErrors (not exported by @apollo/server): each error as a GraphQLError, its
 * code INTERNAL_SERVER_ERROR when it has none, an `http` extension moved to the answer's head, then the
 * formatter; a formatter that throws gives a masked internal error.
 */
function formatErrors(errors: readonly unknown[], formatError: ErrorFormatter, http: HTTPGraphQLHead): GraphQLFormattedError[] {
  return errors.map((error) => {
    try {
      const graphqlError = ensureGraphQLError(error);
      // graphql-jit's errors have no extensions where their original error has none.
      const own: Record<string, unknown> | undefined = graphqlError.extensions;
      const extensions: Record<string, unknown> = { ...own, code: own?.code ?? 'INTERNAL_SERVER_ERROR' };
      if (isPartialHead(extensions.http)) {
        if (extensions.http.status) http.status = extensions.http.status;
        for (const [name, value] of extensions.http.headers ?? []) http.headers.set(name, value);
        delete extensions.http;
      }
      return formatError({ ...graphqlError.toJSON(), extensions }, error);
    } catch {
      return { message: 'Internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR' } };
    }
  });
}

/** As Apollo's isBadUserInputGraphQLError (not exported): graphql-js's refusal of a variable's value. */
function isBadUserInputGraphQLError(error: GraphQLError): boolean {
  const node = error.nodes?.length === 1 ? error.nodes[0] : undefined;
  if (node?.kind !== Kind.VARIABLE_DEFINITION) return false;
  const name = node.variable.name.value;
  return (
    error.message.startsWith(`Variable "$${name}" has invalid value`) ||
    error.message.startsWith(`Variable "$${name}" got invalid value `) ||
    error.message.startsWith(`Variable "$${name}" of required type `) ||
    error.message.startsWith(`Variable "$${name}" of non-null type `)
  );
}

/** As Apollo's UserInputError (not exported): the error with code BAD_USER_INPUT. */
function userInputError(error: GraphQLError): GraphQLError {
  const e = new GraphQLError(error.message, {
    ...(error.nodes && { nodes: error.nodes }),
    originalError: error.originalError ?? error,
    extensions: { ...error.extensions, code: 'BAD_USER_INPUT' },
  });
  e.name = 'UserInputError';
  return e;
}

function isPartialHead(x: unknown): x is { status?: number; headers?: Map<string, string> } {
  return (
    !!x &&
    typeof x === 'object' &&
    (!('status' in x) || typeof x.status === 'number') &&
    (!('headers' in x) || x.headers instanceof Map)
  );
}

function ensureGraphQLError(error: unknown): GraphQLError {
  const e = error instanceof Error ? error : new GraphQLError('Unexpected error value: ' + String(error));
  return e instanceof GraphQLError ? e : new GraphQLError(e.message, { originalError: e });
}
