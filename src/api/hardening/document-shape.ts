// Bounds on what a document may ask for, checked on the parsed document before graphql-js validates it
// (so before OverlappingFieldsCanBeMerged, whose work grows with the square of a selection set's
// fields) and, for the items a request may return, once its variables are known:
// - maxSelections: selections (fields, spreads, inline fragments) written in one selection set;
// - maxFields: fields of each operation with every fragment spread expanded where it is spread;
// - maxItems: items the operation may return, counting `first`/`last` whether literal or variables.
import {
  GraphQLError,
  Kind,
  type DocumentNode,
  type FragmentDefinitionNode,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type ValidationRule,
  type ValueNode,
} from 'graphql';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from '../validation/rules.js';
import { ApiError } from '../errors.js';
import { ERASURE_RECORDS_PER_READ } from '../../log/erasure.js';

export interface DocumentShapeSettings {
  maxSelections: number;
  maxFields: number;
  maxItems: number;
}

/** GRAPHQL_VALIDATION_FAILED with extensions.rule, as graphql-armor's limits report. */
const refused = (rule: string, message: string) =>
  new GraphQLError(message, { extensions: { code: 'GRAPHQL_VALIDATION_FAILED', rule } });

const fragmentsOf = (document: DocumentNode) =>
  new Map(document.definitions.flatMap((d) => (d.kind === Kind.FRAGMENT_DEFINITION ? [[d.name.value, d] as const] : [])));

/**
 * The first shape limit a document breaks, or undefined. Linear in the document: fragment sizes are
 * memoized, a fragment cycle counts nothing (validation reports it), and counting stops past the limit.
 */
export function checkDocumentShape(
  document: DocumentNode,
  settings: Pick<DocumentShapeSettings, 'maxSelections' | 'maxFields'>,
): GraphQLError | undefined {
  const fragments = fragmentsOf(document);
  const sizes = new Map<string, number>();
  const over = () =>
    refused(
      'maxFields',
      `the document selects more than ${settings.maxFields} fields (fragments counted where they are spread); the limit is GRAPHQL_MAX_FIELDS`,
    );
  const fields = (set: SelectionSetNode): number => {
    if (set.selections.length > settings.maxSelections) {
      throw refused(
        'maxSelections',
        `a selection set holds ${set.selections.length} selections; at most ${settings.maxSelections} are allowed (GRAPHQL_MAX_SELECTIONS)`,
      );
    }
    let n = 0;
    for (const s of set.selections) {
      if (s.kind === Kind.FIELD) n += 1 + (s.selectionSet ? fields(s.selectionSet) : 0);
      else if (s.kind === Kind.INLINE_FRAGMENT) n += fields(s.selectionSet);
      else n += fragmentFields(s.name.value);
      if (n > settings.maxFields) throw over();
    }
    return n;
  };
  const fragmentFields = (name: string): number => {
    const known = sizes.get(name);
    if (known !== undefined) return known;
    sizes.set(name, 0);
    const fragment = fragments.get(name);
    const n = fragment ? fields(fragment.selectionSet) : 0;
    sizes.set(name, n);
    return n;
  };
  try {
    for (const d of document.definitions) {
      if (d.kind === Kind.OPERATION_DEFINITION) fields(d.selectionSet);
      else if (d.kind === Kind.FRAGMENT_DEFINITION) fragmentFields(d.name.value);
    }
  } catch (err) {
    if (err instanceof GraphQLError) return err;
    throw err;
  }
  return undefined;
}

const EMPTY_DOCUMENT: DocumentNode = Object.freeze({ kind: Kind.DOCUMENT, definitions: [] });

/**
 * The shape check as a validation rule, for Apollo (which runs graphql's specifiedRules in the same pass):
 * on a document over a limit it reports the error and replaces the document, for the rest of this
 * validation pass, with an empty one (a visitor's returned node replaces the visited one), so that no
 * other rule walks it.
 */
export function documentShapeRule(settings: Pick<DocumentShapeSettings, 'maxSelections' | 'maxFields'>): ValidationRule {
  return (context) => ({
    Document(node) {
      const error = checkDocumentShape(node, settings);
      if (!error) return undefined;
      context.reportError(error);
      return EMPTY_DOCUMENT;
    },
  });
}

/**
 * Fields that return a page of items: `first`/`last`, DEFAULT_PAGE_SIZE when omitted. A size over
 * MAX_PAGE_SIZE counts as MAX_PAGE_SIZE: execution refuses it (BAD_USER_INPUT naming the maximum), so the
 * client hears about the page size rather than about the operation's cost.
 */
const PAGED_FIELDS = new Set(['events', 'checkpoints', 'logs']);
/** A connection's lists of its page's items: each one selected is a copy of the page in the answer. */
const ITEM_LISTS = new Set(['edges', 'nodes']);
/** Fields whose every answer may hold this many items (and costs as much to make), whatever the arguments. */
const FIXED_PAGE_FIELDS = new Map([['erasureRecords', ERASURE_RECORDS_PER_READ]]);

function pageArg(
  value: ValueNode | undefined,
  variables: Record<string, unknown> | undefined,
  defaults: Map<string, ValueNode>,
): number | undefined {
  if (!value) return undefined;
  if (value.kind === Kind.INT) return Number(value.value);
  if (value.kind === Kind.VARIABLE) {
    const v = variables?.[value.name.value];
    if (typeof v === 'number') return v;
    if (v === undefined) return pageArg(defaults.get(value.name.value), undefined, new Map());
  }
  return undefined;
}

/**
 * Items (page entries) an operation may return: each paged field counts its page size times the pages it
 * is nested in, through aliases and fragments, once for each list of items (`edges`, `nodes`, under any
 * alias) selected on it and at least once; a field of FIXED_PAGE_FIELDS counts its fixed size; at least 1
 * in all. `variables` are the request's (raw) values.
 */
export function countItems(
  document: DocumentNode,
  operation: OperationDefinitionNode,
  variables: Record<string, unknown> | undefined,
): number {
  const fragments = fragmentsOf(document);
  const defaults = new Map<string, ValueNode>(
    (operation.variableDefinitions ?? []).flatMap((d) =>
      d.defaultValue ? [[d.variable.name.value, d.defaultValue] as const] : [],
    ),
  );
  /** Item lists selected directly on a connection, through inline fragments and spreads. */
  const itemLists = (set: SelectionSetNode, inFragments: ReadonlySet<string>): number => {
    let k = 0;
    for (const s of set.selections) {
      if (s.kind === Kind.FIELD) k += ITEM_LISTS.has(s.name.value) ? 1 : 0;
      else if (s.kind === Kind.INLINE_FRAGMENT) k += itemLists(s.selectionSet, inFragments);
      else if (!inFragments.has(s.name.value)) {
        const fragment = fragments.get(s.name.value);
        if (fragment) k += itemLists(fragment.selectionSet, new Set([...inFragments, s.name.value]));
      }
    }
    return k;
  };
  const walk = (set: SelectionSetNode, times: number, inFragments: ReadonlySet<string>): number => {
    let n = 0;
    for (const s of set.selections) {
      if (s.kind === Kind.FIELD) {
        let inner = times;
        if (PAGED_FIELDS.has(s.name.value)) {
          const arg = (name: string) => pageArg(s.arguments?.find((a) => a.name.value === name)?.value, variables, defaults);
          const asked = arg('first') ?? arg('last');
          const page =
            asked === undefined || !Number.isFinite(asked) ? DEFAULT_PAGE_SIZE : Math.max(0, Math.min(asked, MAX_PAGE_SIZE));
          inner = times * page;
          n += inner * Math.max(1, s.selectionSet ? itemLists(s.selectionSet, inFragments) : 0);
        } else if (FIXED_PAGE_FIELDS.has(s.name.value)) {
          inner = times * FIXED_PAGE_FIELDS.get(s.name.value)!;
          n += inner;
        }
        if (s.selectionSet) n += walk(s.selectionSet, inner, inFragments);
      } else if (s.kind === Kind.INLINE_FRAGMENT) {
        n += walk(s.selectionSet, times, inFragments);
      } else if (!inFragments.has(s.name.value)) {
        const fragment: FragmentDefinitionNode | undefined = fragments.get(s.name.value);
        if (fragment) n += walk(fragment.selectionSet, times, new Set([...inFragments, s.name.value]));
      }
    }
    return n;
  };
  return Math.max(1, walk(operation.selectionSet, 1, new Set()));
}

/** QUERY_TOO_EXPENSIVE when an operation may return more than maxItems items. */
export function checkItems(items: number, maxItems: number): ApiError | undefined {
  if (items <= maxItems) return undefined;
  return new ApiError(
    'QUERY_TOO_EXPENSIVE',
    `the operation may return ${items} items (page entries, counting first/last given literally or as variables); the limit is ${maxItems} (GRAPHQL_MAX_ITEMS)`,
    {
      rule: 'maxItems',
      extra: { items, limit: maxItems },
    },
  );
}
