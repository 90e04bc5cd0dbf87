// Document limits applied on every transport (Apollo over HTTP and graphql-ws), so neither is a side door.
import { GraphQLError, Kind, type ASTNode, type ParseOptions, type ValidationRule } from 'graphql';

export const MAX_QUERY_DEPTH = 12;
export const MAX_ALIASES = 30;

/** Bounds the parser's work on hostile documents. */
export const PARSE_OPTIONS: ParseOptions = { maxTokens: 5_000 };

const selectionsOf = (node: ASTNode) =>
  'selectionSet' in node && node.selectionSet ? node.selectionSet.selections : [];

/** Rejects documents nested deeper than MAX_QUERY_DEPTH fields (fragments followed). */
export const depthLimitRule: ValidationRule = (context) => {
  const fragments = new Map(context.getDocument().definitions.flatMap((d) => (d.kind === Kind.FRAGMENT_DEFINITION ? [[d.name.value, d]] : [])));
  const depthOf = (node: ASTNode, depth: number, seen: Set<string>): number => {
    let max = depth;
    for (const sel of selectionsOf(node)) {
      if (sel.kind === Kind.FIELD) max = Math.max(max, depthOf(sel, depth + 1, seen));
      else if (sel.kind === Kind.INLINE_FRAGMENT) max = Math.max(max, depthOf(sel, depth, seen));
      else {
        const fragment = fragments.get(sel.name.value);
        if (fragment && !seen.has(sel.name.value)) max = Math.max(max, depthOf(fragment, depth, new Set([...seen, sel.name.value])));
      }
      if (max > MAX_QUERY_DEPTH) return max;
    }
    return max;
  };
  return {
    OperationDefinition(node) {
      if (depthOf(node, 0, new Set()) > MAX_QUERY_DEPTH) {
        context.reportError(new GraphQLError(`operation is nested deeper than ${MAX_QUERY_DEPTH} fields`, { nodes: [node], extensions: { rule: 'maxDepth' } }));
      }
    },
  };
};

/** Rejects documents with many aliases: cheap to send, expensive to run. */
export const aliasLimitRule: ValidationRule = (context) => {
  let aliases = 0;
  return {
    Field(node) {
      if (node.alias && ++aliases === MAX_ALIASES + 1) {
        context.reportError(new GraphQLError(`operation uses more than ${MAX_ALIASES} aliases`, { nodes: [node], extensions: { rule: 'maxAliases' } }));
      }
    },
  };
};

export const extraValidationRules: ValidationRule[] = [depthLimitRule, aliasLimitRule];
