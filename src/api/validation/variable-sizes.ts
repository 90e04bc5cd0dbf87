// List lengths of GraphQL variables, checked on the raw JSON before graphql-js coerces them. Coercion
// visits every item (a 150,000-item `inputs` list costs seconds of main-thread time) before any
// resolver could refuse the list for its length; this check costs one look at each list's length,
// and descends only into lists that are within their limit. The limits are those the resolvers and
// REST apply (MAX_BATCH_SIZE, MAX_FILTER_ITEMS, MAX_KEY_APPS), so both refuse the same requests.
import {
  Kind,
  TypeInfo,
  getNamedType,
  isInputObjectType,
  isListType,
  isNonNullType,
  visit,
  visitWithTypeInfo,
  type ASTNode,
  type DocumentNode,
  type GraphQLInputType,
  type GraphQLSchema,
  type OperationDefinitionNode,
} from 'graphql';
import { ApiError } from '../errors.js';
import { MAX_FILTER_ITEMS } from './rules.js';

/** Most items of an input list, by schema coordinate: `Type.field(arg:)` for arguments, `Input.field` for input fields. */
export interface VariableSizeLimits {
  lists: Record<string, number>;
  /** Lists at no coordinate above (e.g. a list variable used inside a list literal). */
  otherLists: number;
}

export function variableSizeLimits(opts: { maxBatchSize: number; maxKeyApps: number }): VariableSizeLimits {
  const lists = {
    'Mutation.logEvents(inputs:)': opts.maxBatchSize,
    'EventFilter.sourceAppIds': MAX_FILTER_ITEMS,
    'EventFilter.eventTypes': MAX_FILTER_ITEMS,
    'Mutation.createApiKey(sourceAppIds:)': opts.maxKeyApps,
  };
  return { lists, otherLists: Math.max(...Object.values(lists)) };
}

interface Usage {
  variable: string;
  type: GraphQLInputType;
  /** Where the variable stands, as a resolver names the field: argument, then input fields. */
  field: string;
  coordinate: string | null;
}

/**
 * Usages by operation node. Parsed documents are immutable and Apollo's document cache hands the same
 * nodes to every request that sends the same query text, so a repeated operation (the usual client
 * sends one text for all its requests) is walked once per schema, not once per request.
 */
const usagesOf = new WeakMap<OperationDefinitionNode, { schema: GraphQLSchema; document: DocumentNode; usages: Usage[] }>();

/** Where each variable is used, with the input type expected there (visits the operation and every fragment). */
function variableUsages(schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode): Usage[] {
  const known = usagesOf.get(operation);
  if (known?.schema === schema && known.document === document) return known.usages;
  const usages = walkUsages(schema, document, operation);
  usagesOf.set(operation, { schema, document, usages });
  return usages;
}

function walkUsages(schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode): Usage[] {
  const usages: Usage[] = [];
  const typeInfo = new TypeInfo(schema);
  const visitor = visitWithTypeInfo(typeInfo, {
    Variable(node, _key, parent, _path, ancestors) {
      const type = typeInfo.getInputType();
      // A declaration is no use; validation (NoUnusedVariables) refuses a variable declared and never used.
      if (!type || !parent || Array.isArray(parent) || (parent as ASTNode).kind === Kind.VARIABLE_DEFINITION) return;
      const names: string[] = [];
      for (const a of [...ancestors, parent] as ASTNode[]) {
        if (a.kind === Kind.ARGUMENT || a.kind === Kind.OBJECT_FIELD) names.push(a.name.value);
      }
      let coordinate: string | null = null;
      const at = parent as ASTNode;
      if (at.kind === Kind.ARGUMENT) {
        const field = typeInfo.getFieldDef();
        const parentType = typeInfo.getParentType();
        if (field && parentType) coordinate = `${parentType.name}.${field.name}(${at.name.value}:)`;
      } else if (at.kind === Kind.OBJECT_FIELD) {
        const parentInput = typeInfo.getParentInputType();
        if (parentInput) coordinate = `${getNamedType(parentInput).name}.${at.name.value}`;
      }
      usages.push({ variable: node.name.value, type, field: names.join('.'), coordinate });
    },
  });
  visit(operation, visitor);
  for (const d of document.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) visit(d, visitor);
  return usages;
}

/**
 * Whether a value of `type` can hold a list: a list type, or an input object with such a field at any
 * depth. Values of other types (e.g. LogEventInput: scalars only) are not walked item by item, so a
 * 10,000-event batch costs one look at its length here.
 */
const holdsListMemo = new WeakMap<GraphQLInputType, boolean>();
function holdsList(type: GraphQLInputType): boolean {
  if (isNonNullType(type)) return holdsList(type.ofType);
  if (isListType(type)) return true;
  if (!isInputObjectType(type)) return false;
  const known = holdsListMemo.get(type);
  if (known !== undefined) return known;
  // Within a cycle of input types the answer errs towards walking (true), never towards skipping a list.
  holdsListMemo.set(type, true);
  const holds = Object.values(type.getFields()).some((f) => holdsList(f.type));
  holdsListMemo.set(type, holds);
  return holds;
}

/**
 * The first list in the variables longer than its limit, as BAD_USER_INPUT naming the field and the
 * limit; null when every list is within its limit. Reads raw JSON values: anything not shaped like
 * its type is left to coercion, which reports it.
 */
export function checkVariableSizes(
  schema: GraphQLSchema,
  document: DocumentNode,
  operation: OperationDefinitionNode,
  variables: Record<string, unknown> | null | undefined,
  limits: VariableSizeLimits,
): ApiError | null {
  if (!variables || !operation.variableDefinitions?.length) return null;
  const check = (value: unknown, type: GraphQLInputType, field: string, coordinate: string | null): ApiError | null => {
    if (isNonNullType(type)) return check(value, type.ofType, field, coordinate);
    if (isListType(type)) {
      if (!Array.isArray(value)) return check(value, type.ofType, field, null);
      const max = (coordinate !== null ? limits.lists[coordinate] : undefined) ?? limits.otherLists;
      if (value.length > max) {
        return new ApiError('BAD_USER_INPUT', `${field}: must hold at most ${max} items (got ${value.length})`, {
          field,
          rule: 'maxItems',
        });
      }
      if (!holdsList(type.ofType)) return null;
      for (let i = 0; i < value.length; i++) {
        const bad = check(value[i], type.ofType, `${field}[${i}]`, null);
        if (bad) return bad;
      }
      return null;
    }
    if (isInputObjectType(type) && value !== null && typeof value === 'object') {
      const record = value as Record<string, unknown>;
      for (const f of Object.values(type.getFields())) {
        if (!(f.name in record) || !holdsList(f.type)) continue;
        const bad = check(record[f.name], f.type, `${field}.${f.name}`, `${type.name}.${f.name}`);
        if (bad) return bad;
      }
    }
    return null;
  };
  for (const u of variableUsages(schema, document, operation)) {
    // A type that holds no list (e.g. logEvent's LogEventInput) has nothing to check.
    if (!holdsList(u.type) || !(u.variable in variables)) continue;
    const bad = check(variables[u.variable], u.type, u.field, u.coordinate);
    if (bad) return bad;
  }
  return null;
}
