// The one place where a request's principal is established and checked: authentication
// (UNAUTHENTICATED) and the role of the key for each root field (FORBIDDEN). Limits on which source
// applications a key may touch are applied by the resolvers through src/auth/scope.ts.
// The roles matrix is in src/auth/permissions.ts (and README "Authentication").
import type { IncomingHttpHeaders } from 'node:http';
import { Kind, type DocumentNode, type OperationDefinitionNode, type SelectionSetNode } from 'graphql';
import type { Authenticator } from '../auth/authenticator.js';
import { roleMay, type OperationKind } from '../auth/permissions.js';
import { credentialFrom } from '../auth/secrets.js';
import type { Principal } from './context.js';
import { ApiError } from './errors.js';

export type Operation = OperationKind | 'ingest';

export type CredentialSource = IncomingHttpHeaders | Record<string, unknown> | undefined | null;

/** The caller behind HTTP headers and/or graphql-ws connectionParams (later sources win). */
export function principalFrom(auth: Authenticator, ...sources: CredentialSource[]): Promise<Principal> {
  return auth.authenticate(credentialFrom(...sources.map((s) => s ?? undefined)));
}

export const unauthenticated = (principal: Principal) =>
  principal.kind === 'invalid' && principal.problem === 'scheme'
    ? new ApiError(
        'UNAUTHENTICATED',
        'the Authorization header must be "Bearer <API key>" (or send the key alone as x-api-key: <API key>)',
        {
          rule: 'authorizationScheme',
        },
      )
    : new ApiError(
        'UNAUTHENTICATED',
        principal.kind === 'invalid'
          ? 'the API key is invalid or revoked'
          : 'an API key is required: send it as x-api-key or Authorization: Bearer (connectionParams on WebSocket)',
        { rule: principal.kind === 'invalid' ? 'invalidKey' : 'missingKey' },
      );

/**
 * Throws UNAUTHENTICATED without a valid key, FORBIDDEN when the key's role may not use one of the
 * operation's root fields (`ingest` = REST POST /v1/events, checked as logEvents).
 */
export function authorize(principal: Principal, operation: Operation, rootFields: readonly string[] = []): void {
  if (principal.kind === 'open') return;
  if (principal.kind !== 'key') throw unauthenticated(principal);
  const [kind, fields]: [OperationKind, readonly string[]] =
    operation === 'ingest' ? ['mutation', ['logEvents']] : [operation, rootFields];
  for (const field of fields) {
    if (!roleMay(principal.role, kind, field)) {
      throw new ApiError('FORBIDDEN', `a ${principal.role} API key may not use ${kind} ${field}`, { field, rule: 'role' });
    }
  }
}

/** Names of the root fields an operation selects, through fragments (directives are not evaluated). */
export function rootFieldsOf(document: DocumentNode, operation: OperationDefinitionNode): string[] {
  const fragments = new Map(
    document.definitions.flatMap((d) => (d.kind === Kind.FRAGMENT_DEFINITION ? [[d.name.value, d.selectionSet] as const] : [])),
  );
  const names = new Set<string>();
  const seen = new Set<string>();
  const walk = (set: SelectionSetNode) => {
    for (const s of set.selections) {
      if (s.kind === Kind.FIELD) names.add(s.name.value);
      else if (s.kind === Kind.INLINE_FRAGMENT) walk(s.selectionSet);
      else if (!seen.has(s.name.value)) {
        seen.add(s.name.value);
        const fragment = fragments.get(s.name.value);
        if (fragment) walk(fragment);
      }
    }
  };
  walk(operation.selectionSet);
  return [...names];
}
