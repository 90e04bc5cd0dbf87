// What a key limited to some source applications may see and write. Naming an application outside the
// key's scope (an argument, a filter item, an event id, a batch item) is FORBIDDEN, whether or not
// that application exists; asking without naming one (events without filter, logs, subscriptions
// without filter) is answered from the key's applications only.
import type { EventFilter } from '../storage/types.js';
import { AuthError, type AuthErrorItem } from './errors.js';
import { scopeOf, type Principal } from './principal.js';

export const forbiddenApp = (field: string, sourceAppId: string) =>
  new AuthError(
    'FORBIDDEN',
    `${field}: this API key may not access source application ${JSON.stringify(sourceAppId)}`,
    field,
    'scope',
  );

export function mayAccessApp(principal: Principal, sourceAppId: string): boolean {
  const scope = scopeOf(principal);
  return scope === null || scope.includes(sourceAppId);
}

/** Throws FORBIDDEN unless the principal may access that application. */
export function requireApp(principal: Principal, sourceAppId: string, field = 'sourceAppId'): void {
  if (!mayAccessApp(principal, sourceAppId)) throw forbiddenApp(field, sourceAppId);
}

/** The filter restricted to the principal's applications; FORBIDDEN if it names another one. */
export function scopeFilter(principal: Principal, filter: EventFilter, field = 'filter'): EventFilter {
  const scope = scopeOf(principal);
  if (scope === null) return filter;
  if (!filter.sourceAppIds) return { ...filter, sourceAppIds: [...scope] };
  const outside = filter.sourceAppIds.find((id) => !scope.includes(id));
  if (outside !== undefined) throw forbiddenApp(`${field}.sourceAppIds`, outside);
  return filter;
}

/**
 * Before validation, on the raw input: every item whose sourceAppId the principal may not write makes
 * the whole request FORBIDDEN (nothing is written), with one error per such item.
 */
export function requireIngestApps(principal: Principal, input: unknown, batchField: string | null): void {
  if (scopeOf(principal) === null) return;
  const items = batchField !== null && Array.isArray(input) ? input : [input];
  const errors: AuthErrorItem[] = [];
  items.forEach((item, index) => {
    const app = item !== null && typeof item === 'object' ? (item as Record<string, unknown>).sourceAppId : undefined;
    if (typeof app === 'string' && !mayAccessApp(principal, app)) {
      errors.push({
        index,
        field: 'sourceAppId',
        rule: 'scope',
        message: `this API key may not write to source application ${JSON.stringify(app)}`,
      });
    }
  });
  if (errors.length === 0) return;
  if (batchField === null) throw forbiddenApp('sourceAppId', String((input as Record<string, unknown>).sourceAppId));
  throw new AuthError(
    'FORBIDDEN',
    `${batchField}: ${errors.length} item(s) name a source application this API key may not write to; nothing was written`,
    batchField,
    'scope',
    errors,
  );
}
