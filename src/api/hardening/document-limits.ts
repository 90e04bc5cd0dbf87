// GraphQL document limits from graphql-armor, one list for every transport (Apollo over HTTP and
// graphql-ws), so neither is a side door. Rejections are ordinary validation errors: code
// GRAPHQL_VALIDATION_FAILED (HTTP 400) with extensions.rule naming the limit.
import { costLimitRule } from '@escape.tech/graphql-armor-cost-limit';
import { maxAliasesRule } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthRule } from '@escape.tech/graphql-armor-max-depth';
import { maxDirectivesRule } from '@escape.tech/graphql-armor-max-directives';
import { documentShapeRule } from './document-shape.js';
import { GraphQLError, type ParseOptions, type ValidationContext, type ValidationRule } from 'graphql';

export interface DocumentLimitSettings {
  /** Field nesting (fragment spreads count one level). */
  maxDepth: number;
  maxAliases: number;
  /** graphql-armor cost: objects 2, scalars 1, x1.5 per level, x `first`/`last` when given literally. */
  maxCost: number;
  /** Lexer tokens of one document (checked while parsing). */
  maxTokens: number;
  maxDirectives: number;
  /** Selections written in one selection set (checked before validation, see document-shape.ts). */
  maxSelections: number;
  /** Fields of an operation with fragments expanded (checked before validation). */
  maxFields: number;
  /** Page entries an operation may return, `first`/`last` counted from literals and variables. */
  maxItems: number;
}

export const DEFAULT_DOCUMENT_LIMITS: DocumentLimitSettings = {
  maxDepth: 12,
  maxAliases: 30,
  maxCost: 100_000,
  maxTokens: 5_000,
  maxDirectives: 50,
  maxSelections: 100,
  maxFields: 1_000,
  maxItems: 2_000,
};

export type LimitRule =
  'maxDepth' | 'maxAliases' | 'maxCost' | 'maxTokens' | 'maxDirectives' | 'maxSelections' | 'maxFields' | 'maxItems';

export interface DocumentLimits {
  settings: DocumentLimitSettings;
  /** Added to graphql's specifiedRules. */
  validationRules: ValidationRule[];
  /** For graphql's parse(): maxTokens makes the parser stop early on hostile documents. */
  parseOptions: ParseOptions;
}

/** graphql-armor throws "Syntax Error: ..." by default; this reports a coded validation error instead. */
const report = (rule: LimitRule) => (context: ValidationContext | null, error: GraphQLError) => {
  context?.reportError(
    new GraphQLError(error.message.replace(/^Syntax Error: /, ''), { extensions: { code: 'GRAPHQL_VALIDATION_FAILED', rule } }),
  );
};

const common = (rule: LimitRule) => ({ propagateOnRejection: false, exposeLimits: true, onReject: [report(rule)] });

export function createDocumentLimits(overrides: Partial<DocumentLimitSettings> = {}): DocumentLimits {
  const settings = { ...DEFAULT_DOCUMENT_LIMITS, ...overrides };
  return {
    settings,
    validationRules: [
      documentShapeRule(settings),
      maxDepthRule({ n: settings.maxDepth, ...common('maxDepth') }),
      maxAliasesRule({ n: settings.maxAliases, ...common('maxAliases') }),
      costLimitRule({ maxCost: settings.maxCost, ...common('maxCost') }),
      maxDirectivesRule({ n: settings.maxDirectives, ...common('maxDirectives') }),
    ],
    parseOptions: { maxTokens: settings.maxTokens },
  };
}

/** graphql-js's message when parse() hits ParseOptions.maxTokens (16.x spells it "more that"). */
const TOKENS = /^Syntax Error: Document contains more (?:than|that) \d+ tokens/;

/** The limit rule behind a parse error message, if it is one (for extensions.rule). */
export const parseLimitRule = (message: string): LimitRule | undefined => (TOKENS.test(message) ? 'maxTokens' : undefined);

/** Settings from the validated config (GRAPHQL_MAX_*). */
export function documentLimitsFromConfig(config: {
  GRAPHQL_MAX_DEPTH: number;
  GRAPHQL_MAX_ALIASES: number;
  GRAPHQL_MAX_COST: number;
  GRAPHQL_MAX_TOKENS: number;
  GRAPHQL_MAX_DIRECTIVES: number;
  GRAPHQL_MAX_SELECTIONS: number;
  GRAPHQL_MAX_FIELDS: number;
  GRAPHQL_MAX_ITEMS: number;
}): DocumentLimits {
  return createDocumentLimits({
    maxDepth: config.GRAPHQL_MAX_DEPTH,
    maxAliases: config.GRAPHQL_MAX_ALIASES,
    maxCost: config.GRAPHQL_MAX_COST,
    maxTokens: config.GRAPHQL_MAX_TOKENS,
    maxDirectives: config.GRAPHQL_MAX_DIRECTIVES,
    maxSelections: config.GRAPHQL_MAX_SELECTIONS,
    maxFields: config.GRAPHQL_MAX_FIELDS,
    maxItems: config.GRAPHQL_MAX_ITEMS,
  });
}
