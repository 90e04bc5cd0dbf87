// What both streaming transports (graphql-ws at /graphql, graphql-sse at /graphql/stream), and the lean
// POST /graphql route (src/api/graphql/lean-graphql.ts), do with an operation before it runs. Apollo's
// validation, limits and role checks do not run outside Apollo, so
// this applies the same rules in the same order: parse within the token limit, the document's shape,
// validation (with the document-limit rules), the operation, the role, items asked for, the transport's
// caps and the rate limit, variable sizes, then variable coercion. Each refusal carries the same
// extensions.code (and rule) as over HTTP.
import {
  GraphQLError,
  NoSchemaIntrospectionCustomRule,
  getOperationAST,
  getVariableValues,
  parse,
  specifiedRules,
  validate,
  type DocumentNode,
  type ExecutionResult,
  type FormattedExecutionResult,
  type GraphQLFormattedError,
  type GraphQLSchema,
  type OperationDefinitionNode,
} from 'graphql';
import { authorize, rootFieldsOf } from '../access.js';
import type { ApiContext, ApiDeps, Principal } from '../context.js';
import { ApiError } from '../errors.js';
import { formatForWs, type ErrorFormatter } from '../graphql/format-error.js';
import { variableSizeLimitsFromConfig } from '../graphql/limits.js';
import { parseLimitRule } from '../hardening/document-limits.js';
import { checkDocumentShape, checkItems, countItems } from '../hardening/document-shape.js';
import type { Hardening } from '../hardening/index.js';
import { checkVariableSizes } from '../validation/variable-sizes.js';

export interface OperationRequest {
  query: string;
  operationName?: string | null | undefined;
  variables?: Record<string, unknown> | null | undefined;
}

export interface PreparedOperation {
  document: DocumentNode;
  operation: OperationDefinitionNode;
  variables: Record<string, unknown>;
}

/** The transport's own admission (connection caps, subscription caps, rate limit): an error refuses the operation. */
export type AdmitOperation = (
  document: DocumentNode,
  operation: OperationDefinitionNode,
  variables: Record<string, unknown>,
) => Promise<ApiError | undefined>;

export type PrepareOperation = (
  principal: Principal,
  request: OperationRequest,
  admit: AdmitOperation,
) => Promise<PreparedOperation | readonly GraphQLError[]>;

/**
 * Documents that parsed, passed the shape check and validated, by their query text: validation depends
 * only on the schema and the rules, both fixed for a preparer. Bounded in entries and in the length of
 * the texts kept (longer ones are parsed and validated each time), so that a preparer keeps at most
 * 512 KiB of query text and its trees; least recently used goes first. The operations a client repeats
 * (a `logEvent` mutation is about 100 characters) fit many times over.
 */
export const MAX_CACHED_DOCUMENTS = 256;
export const MAX_CACHED_QUERY_CHARS = 2_048;

/** As Apollo does with hideSchemaDetailsFromClientErrors: no schema hints in production. */
const SUGGESTION = / ?Did you mean .+\?$/;

export function withCode(error: GraphQLError, code: string, rule?: string, hideSchema = false): GraphQLError {
  return new GraphQLError(hideSchema ? error.message.replace(SUGGESTION, '') : error.message, {
    ...(error.nodes && { nodes: error.nodes }),
    ...(error.source && { source: error.source }),
    ...(error.positions && { positions: error.positions }),
    ...(error.originalError && { originalError: error.originalError }),
    extensions: { ...error.extensions, code, ...(rule && { rule }) },
  });
}

/** `principal` must already be authenticated (a key, or AUTH=off): the transport refuses others first. */
export function createOperationPreparer(opts: {
  schema: GraphQLSchema;
  deps: ApiDeps;
  hardening: Hardening;
  /**
   * 'http': the lean POST /graphql route, which hands every refused operation to Apollo; Apollo counts the
   * refused documents, so the refusal is not counted here too. Its variables are not coerced here: the
   * route's execute coerces them once, after the rate limit's charge, as Apollo's pipeline does.
   */
  transport: 'ws' | 'sse' | 'http';
}): PrepareOperation {
  const { schema, deps, transport } = opts;
  const { documentLimits } = opts.hardening;
  const production = deps.config.production;
  const variableLimits = variableSizeLimitsFromConfig(deps.config);
  // Apollo disables introspection in production; so do these paths.
  const rules = [...specifiedRules, ...documentLimits.validationRules, ...(production ? [NoSchemaIntrospectionCustomRule] : [])];

  const valid = new Map<string, DocumentNode>();
  /** The root fields of each operation node (a cached document's nodes come back for every request). */
  const rootFields = new WeakMap<OperationDefinitionNode, string[]>();

  /** The document of `query` once parsed and validated, or its refusal. */
  const validDocument = (query: string): DocumentNode | readonly GraphQLError[] => {
    const cached = valid.get(query);
    if (cached) {
      valid.delete(query); // re-inserted last: the map's order is least recently used first
      valid.set(query, cached);
      return cached;
    }
    let document: DocumentNode;
    try {
      document = parse(query, documentLimits.parseOptions);
    } catch (err) {
      if (err instanceof GraphQLError)
        return [withCode(err, 'GRAPHQL_VALIDATION_FAILED', parseLimitRule(err.message) ?? 'syntax')];
      throw err;
    }
    const badShape = checkDocumentShape(document, documentLimits.settings);
    if (badShape) {
      if (transport !== 'http') deps.metrics.documentsRefused.inc({ rule: String(badShape.extensions.rule), transport });
      return [
        new GraphQLError(badShape.message, {
          extensions: { code: 'GRAPHQL_VALIDATION_FAILED', rule: badShape.extensions.rule },
        }),
      ];
    }
    const invalid = validate(schema, document, rules);
    if (invalid.length > 0) return invalid.map((e) => withCode(e, 'GRAPHQL_VALIDATION_FAILED', undefined, production));
    if (query.length <= MAX_CACHED_QUERY_CHARS) {
      if (valid.size >= MAX_CACHED_DOCUMENTS) valid.delete(valid.keys().next().value!);
      valid.set(query, document);
    }
    return document;
  };

  return async (principal, request, admit) => {
    const document = validDocument(request.query);
    if (!('kind' in document)) return document;
    const operation = getOperationAST(document, request.operationName);
    if (!operation) {
      return [
        new ApiError('BAD_USER_INPUT', 'operationName: does not name exactly one operation of the document', {
          field: 'operationName',
          rule: 'operationName',
        }),
      ];
    }
    try {
      let fields = rootFields.get(operation);
      if (!fields) rootFields.set(operation, (fields = rootFieldsOf(document, operation)));
      authorize(principal, operation.operation, fields);
    } catch (err) {
      if (err instanceof GraphQLError) return [err];
      throw err;
    }
    const variables = request.variables ?? {};
    if (operation.operation === 'query') {
      const tooMany = checkItems(countItems(document, operation, variables), documentLimits.settings.maxItems);
      if (tooMany) return [tooMany];
    }
    const refused = await admit(document, operation, variables);
    if (refused) return [refused];
    const oversized = checkVariableSizes(schema, document, operation, variables, variableLimits);
    if (oversized) return [oversized];
    // Over HTTP, graphql-js's execute coerces the variables after the rate limit's charge, as in Apollo's
    // pipeline (src/api/graphql/lean-graphql.ts answers its refusals as Apollo does): once is enough.
    if (transport === 'http') return { document, operation, variables };
    const coerced = getVariableValues(schema, operation.variableDefinitions ?? [], variables, { maxErrors: 50 });
    if (coerced.errors) return coerced.errors.map((e) => withCode(e, 'BAD_USER_INPUT', undefined, production));
    return { document, operation, variables };
  };
}

/** Executions are shared only between operations of the same API key (or all, with AUTH=off). */
export function executionCaller(contextValue: unknown): string {
  const { principal } = contextValue as ApiContext;
  return principal.kind === 'key' ? `key:${principal.id}` : principal.kind;
}

/**
 * A streamed result's errors as the client sees them: formatted (masked) by the one error formatter, and
 * an answer over GRAPHQL_MAX_RESPONSE_BYTES sent as that error alone, as over HTTP. Undefined when the
 * result has no errors (it is sent as it is).
 */
export function formatStreamedResult(
  formatError: ErrorFormatter,
  contextValue: unknown,
  result: ExecutionResult,
): (FormattedExecutionResult & { errors: GraphQLFormattedError[] }) | undefined {
  if (!result.errors) return undefined;
  const tooLarge = (contextValue as ApiContext | undefined)?.response.exceeded;
  if (tooLarge) return { errors: [formatForWs(formatError, tooLarge)] };
  return { ...result, errors: result.errors.map((e) => formatForWs(formatError, e)) };
}
