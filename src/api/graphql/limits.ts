// Document limits applied on every transport (Apollo over HTTP and graphql-ws), so neither is a side door.
// They are graphql-armor's rules, configured from GRAPHQL_MAX_* (see src/api/hardening/document-limits.ts);
// the exports here are the defaults, for tests and tools without a config.
import { DEFAULT_DOCUMENT_LIMITS, createDocumentLimits } from '../hardening/document-limits.js';

export { createDocumentLimits, documentLimitsFromConfig, type DocumentLimits } from '../hardening/document-limits.js';

export const MAX_QUERY_DEPTH = DEFAULT_DOCUMENT_LIMITS.maxDepth;
export const MAX_ALIASES = DEFAULT_DOCUMENT_LIMITS.maxAliases;

const defaults = createDocumentLimits();

/** Bounds the parser's work on hostile documents. */
export const PARSE_OPTIONS = defaults.parseOptions;

export const extraValidationRules = defaults.validationRules;
