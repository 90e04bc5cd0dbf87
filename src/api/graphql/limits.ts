// Document limits applied on every transport (Apollo over HTTP and graphql-ws), so neither is a side door.
// They are graphql-armor's rules, configured from GRAPHQL_MAX_* (see src/api/hardening/document-limits.ts);
// the exports here are the defaults, for tests and tools without a config.
import type { ApolloServerPlugin } from '@apollo/server';
import type { Config } from '../../config.js';
import { MAX_KEY_APPS } from '../../auth/authenticator.js';
import { DEFAULT_DOCUMENT_LIMITS, createDocumentLimits } from '../hardening/document-limits.js';
import { checkVariableSizes, variableSizeLimits, type VariableSizeLimits } from '../validation/variable-sizes.js';

export { createDocumentLimits, documentLimitsFromConfig, type DocumentLimits } from '../hardening/document-limits.js';

export const MAX_QUERY_DEPTH = DEFAULT_DOCUMENT_LIMITS.maxDepth;
export const MAX_ALIASES = DEFAULT_DOCUMENT_LIMITS.maxAliases;

const defaults = createDocumentLimits();

/** Bounds the parser's work on hostile documents. */
export const PARSE_OPTIONS = defaults.parseOptions;

export const extraValidationRules = defaults.validationRules;

/** List limits of variables, checked before coercion on both transports (src/api/validation/variable-sizes.ts). */
export const variableSizeLimitsFromConfig = (config: Pick<Config, 'MAX_BATCH_SIZE'>): VariableSizeLimits =>
  variableSizeLimits({ maxBatchSize: config.MAX_BATCH_SIZE, maxKeyApps: MAX_KEY_APPS });

/** Apollo: refuses oversized variable lists once the operation is known, before execution coerces them. */
export function variableSizesPlugin<C extends object>(limits: VariableSizeLimits): ApolloServerPlugin<C> {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ schema, document, operation, request }) {
          if (!operation) return;
          const refused = checkVariableSizes(schema, document, operation, request.variables, limits);
          if (refused) throw refused;
        },
      };
    },
  };
}
