// What one GraphQL operation costs against the rate limits: queries and subscriptions are as many reads
// as the items they ask for (countItems, at least 1), mutations are writes counted in events (logEvents
// counts its inputs).
import { Kind, type DocumentNode, type OperationDefinitionNode, type SelectionSetNode, type ValueNode } from 'graphql';
import { countItems } from './document-shape.js';
import type { RateLimits } from './rate-limit.js';

function listLength(value: ValueNode | undefined, variables: Record<string, unknown> | undefined): number {
  if (!value) return 1;
  if (value.kind === Kind.LIST) return value.values.length;
  if (value.kind === Kind.VARIABLE) {
    const v = variables?.[value.name.value];
    return Array.isArray(v) ? v.length : 1;
  }
  return 1;
}

/** Events written by a mutation operation (at least 1 per root field). */
export function countWrites(
  document: DocumentNode,
  operation: OperationDefinitionNode,
  variables: Record<string, unknown> | undefined,
): number {
  const fragments = new Map(
    document.definitions.flatMap((d) => (d.kind === Kind.FRAGMENT_DEFINITION ? [[d.name.value, d] as const] : [])),
  );
  const seen = new Set<string>();
  const walk = (set: SelectionSetNode): number => {
    let n = 0;
    for (const sel of set.selections) {
      if (sel.kind === Kind.FIELD) {
        if (sel.name.value === '__typename') continue;
        n +=
          sel.name.value === 'logEvents'
            ? Math.max(1, listLength(sel.arguments?.find((a) => a.name.value === 'inputs')?.value, variables))
            : 1;
      } else if (sel.kind === Kind.INLINE_FRAGMENT) {
        n += walk(sel.selectionSet);
      } else if (!seen.has(sel.name.value)) {
        seen.add(sel.name.value);
        const fragment = fragments.get(sel.name.value);
        if (fragment) n += walk(fragment.selectionSet);
      }
    }
    return n;
  };
  return walk(operation.selectionSet);
}

/** Charges one operation to its client's budget; throws RATE_LIMITED when over it. */
export async function chargeOperation(
  limits: RateLimits,
  client: string,
  document: DocumentNode,
  operation: OperationDefinitionNode,
  variables: Record<string, unknown> | undefined,
): Promise<void> {
  if (operation.operation === 'mutation') await limits.write(client, countWrites(document, operation, variables));
  else await limits.read(client, countItems(document, operation, variables));
}
