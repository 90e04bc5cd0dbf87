// zod issues to the API's errors: field path, rule name, code; batches report every bad item by index.
import type { z } from 'zod';
import { ApiError, type ApiErrorCode, type ItemError } from '../errors.js';

export interface IssueInfo {
  code: ApiErrorCode;
  field: string;
  rule: string;
  message: string;
}

/** Extra data a custom issue carries in `params`. */
export interface RuleParams {
  rule: string;
  code?: ApiErrorCode;
}

export function fieldPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out;
}

function ruleOf(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_type':
      if (issue.input === undefined) return 'required';
      return issue.expected === 'int' ? 'integer' : 'type';
    case 'too_big':
      return issue.origin === 'string' ? 'maxLength' : issue.origin === 'array' ? 'maxItems' : 'max';
    case 'too_small':
      return issue.origin === 'string' ? 'minLength' : issue.origin === 'array' ? 'minItems' : 'min';
    case 'invalid_format':
      return 'format';
    case 'unrecognized_keys':
      return 'unknownField';
    case 'invalid_value':
      return 'enum';
    case 'custom':
      return (issue.params as RuleParams | undefined)?.rule ?? 'invalid';
    default:
      return 'invalid';
  }
}

export function describeIssue(issue: z.core.$ZodIssue, prefix: ReadonlyArray<PropertyKey> = []): IssueInfo {
  const path = [...prefix, ...issue.path];
  if (issue.code === 'unrecognized_keys' && issue.keys[0] !== undefined) path.push(issue.keys[0]);
  const field = fieldPath(path);
  const rule = ruleOf(issue);
  const code = issue.code === 'custom' ? ((issue.params as RuleParams | undefined)?.code ?? 'BAD_USER_INPUT') : 'BAD_USER_INPUT';
  const text = rule === 'required' ? 'is required' : issue.message;
  return { code, field, rule, message: field ? `${field}: ${text}` : text };
}

/** PAYLOAD_TOO_LARGE only when size is all that is wrong; any other bad input makes it BAD_USER_INPUT. */
function overallCode(infos: IssueInfo[]): ApiErrorCode {
  return infos.every((i) => i.code === 'PAYLOAD_TOO_LARGE') ? 'PAYLOAD_TOO_LARGE' : 'BAD_USER_INPUT';
}

export function issuesToError(issues: z.core.$ZodIssue[], prefix: ReadonlyArray<PropertyKey> = []): ApiError {
  const infos = issues.map((i) => describeIssue(i, prefix));
  const code = overallCode(infos);
  const lead = infos.find((i) => i.code === code) ?? infos[0]!;
  return new ApiError(code, infos.map((i) => i.message).join('; '), { field: lead.field, rule: lead.rule });
}

/** One error for a whole batch, listing every bad item by its index. */
export function batchError(batchField: string, items: ItemError[]): ApiError {
  const code = overallCode(items);
  const indexes = [...new Set(items.map((i) => i.index))];
  const message = `${indexes.length} item(s) of ${batchField} rejected, nothing was written: ${items
    .slice(0, 5)
    .map((i) => `[${i.index}] ${i.message}`)
    .join('; ')}${items.length > 5 ? '; …' : ''}`;
  return new ApiError(code, message, { field: batchField, rule: 'items', errors: items });
}

/**
 * safeParse, with each issue carrying its input (ruleOf tells a missing field from a wrong one by it).
 * Reporting inputs takes zod off its compiled path for objects, which costs every event, so only a
 * failed parse is repeated with them.
 */
export function safeParseReporting<S extends z.ZodType>(schema: S, value: unknown): z.ZodSafeParseResult<z.output<S>> {
  const fast = schema.safeParse(value);
  return fast.success ? fast : schema.safeParse(value, { reportInput: true });
}

/** Parse or throw the API's error for the first-level field path `prefix`. */
export function parseOrThrow<S extends z.ZodType>(
  schema: S,
  value: unknown,
  prefix: ReadonlyArray<PropertyKey> = [],
): z.output<S> {
  const result = safeParseReporting(schema, value);
  if (!result.success) throw issuesToError(result.error.issues, prefix);
  return result.data;
}
