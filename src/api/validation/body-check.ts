// The checks a JSON request body gets before the event loop parses it, as pure functions of its bytes:
// UTF-8, the exact-number rule, JSON syntax, the unique-name rule, and the list sizes that would refuse it
// anyway (REST's batch size, GraphQL's variable list limits). The body-checking thread (src/api/body-check-worker.ts) runs
// them on bodies over JSON_BODY_THREAD_BYTES, so a body that is refused costs the event loop no parse;
// each refusal is the one the event loop gives the same body (same code, message, field and rule).
import { buildSchema, getOperationAST, parse, type GraphQLSchema } from 'graphql';
import { tooManyEvents } from './event-input.js';
import { findInexactNumber, inexactNumber } from './exact-numbers.js';
import { findRepeatedName, repeatedName } from './unique-names.js';
import { findNotUtf8 } from './utf8.js';
import { checkVariableSizes, type VariableSizeLimits } from './variable-sizes.js';

/** What a body is checked as: a REST batch of events, or a GraphQL request. Plain data (posted to a thread). */
export type BodyJob =
  { kind: 'events'; maxBatchSize: number } | { kind: 'graphql'; limits: VariableSizeLimits; maxTokens: number };

/** A refusal as plain data; `notJson` is the body parser's own refusal (the error handler words it). */
export type BodyVerdict =
  | { ok: true }
  | { ok: false; notJson: true }
  | { ok: false; notJson?: false; code: 'BAD_USER_INPUT'; message: string; field: string; rule: string };

const refused = (e: { message: string; field: string | undefined; rule: string | undefined }): BodyVerdict => ({
  ok: false,
  code: 'BAD_USER_INPUT',
  message: e.message,
  field: e.field ?? 'body',
  rule: e.rule ?? 'invalid',
});

/** JSON as express.json parses it (strict: an object or an array at the top; a leading BOM dropped; `{}` for no body). */
export function parseJsonBody(text: string): unknown {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  if (body.length === 0) return {};
  const first = /^[\x20\x09\x0a\x0d]*(.)/s.exec(body)?.[1];
  if (first !== '{' && first !== '[') throw new SyntaxError('a JSON body is an object or an array');
  return JSON.parse(body);
}

const utf8 = new TextDecoder('utf-8');

/** checkBodyText of the bytes' text, once they are found to be UTF-8 (as verifyUtf8 finds them on the event loop). */
export function checkBodyBytes(bytes: Uint8Array, job: BodyJob, schema: () => GraphQLSchema): BodyVerdict {
  const notUtf8 = findNotUtf8(bytes);
  if (notUtf8) return refused(notUtf8);
  return checkBodyText(utf8.decode(bytes), job, schema);
}

/** `schema`: the API's types (resolvers are not needed), for GraphQL jobs. */
export function checkBodyText(text: string, job: BodyJob, schema: () => GraphQLSchema): BodyVerdict {
  // The exact-number rule first, as express.json's `verify` runs before its parse.
  const bad = findInexactNumber(text);
  if (bad) return refused(inexactNumber(bad.field, bad.token));
  let body: unknown;
  try {
    body = parseJsonBody(text);
  } catch {
    return { ok: false, notJson: true };
  }
  const repeated = findRepeatedName(text, body);
  if (repeated) return refused(repeatedName(repeated.field, repeated.name));
  if (job.kind === 'events') {
    return Array.isArray(body) && body.length > job.maxBatchSize
      ? refused(tooManyEvents('body', job.maxBatchSize))
      : { ok: true };
  }
  // Anything not shaped like a GraphQL request, or whose document does not parse, is left to Apollo,
  // which reports it; only the variable lists are judged here.
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return { ok: true };
  const { query, variables, operationName } = body as Record<string, unknown>;
  if (typeof query !== 'string' || variables === null || typeof variables !== 'object' || Array.isArray(variables))
    return { ok: true };
  let operation;
  let document;
  try {
    document = parse(query, { maxTokens: job.maxTokens });
    operation = getOperationAST(document, typeof operationName === 'string' ? operationName : undefined);
  } catch {
    return { ok: true };
  }
  if (!operation) return { ok: true };
  const sized = checkVariableSizes(schema(), document, operation, variables as Record<string, unknown>, job.limits);
  return sized ? refused(sized) : { ok: true };
}

/** The API's types from its SDL, without resolvers: enough for checkBodyText. */
export const typesOnlySchema = (typeDefs: readonly string[]): GraphQLSchema => buildSchema(typeDefs.join('\n'));
