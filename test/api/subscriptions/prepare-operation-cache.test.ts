// The preparer's cache of validated documents (src/api/subscriptions/prepare-operation.ts): a query text
// seen before gives the same document without a new parse; refused documents, texts over the length
// bound and the least recently used past the entry bound are not kept.
import type { GraphQLError } from 'graphql';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { ApiDeps, Principal } from '../../../src/api/context.js';
import { buildApiSchema } from '../../../src/api/graphql/schema.js';
import { createHardening } from '../../../src/api/hardening/index.js';
import { createApiMetrics } from '../../../src/api/metrics.js';
import {
  createOperationPreparer,
  MAX_CACHED_DOCUMENTS,
  MAX_CACHED_QUERY_CHARS,
  type PreparedOperation,
} from '../../../src/api/subscriptions/prepare-operation.js';
import { loadConfig } from '../../../src/config.js';

const config = loadConfig({ AUTH: 'off', DATA_DIR: '/nonexistent' });
const deps = { config, metrics: createApiMetrics(new Registry()) } as unknown as ApiDeps;
const prepare = createOperationPreparer({
  schema: buildApiSchema(),
  deps,
  hardening: createHardening(config),
  transport: 'http',
});
const admit = async () => undefined;
const open: Principal = { kind: 'open' };

async function documentOf(query: string) {
  const prepared = await prepare(open, { query }, admit);
  expect(Array.isArray(prepared), JSON.stringify(prepared)).toBe(false);
  return (prepared as PreparedOperation).document;
}
const typename = (i: number) => `{ a${i}: __typename }`;

describe('the cache of validated documents', () => {
  it('gives the same document for the same text, until it is the least recently used past the bound', async () => {
    const first = await documentOf(typename(0));
    const second = await documentOf(typename(1));
    expect(await documentOf(typename(0))).toBe(first);
    for (let i = 2; i < MAX_CACHED_DOCUMENTS; i++) await documentOf(typename(i));
    // Used again, so no longer the least recently used: the next text evicts typename(1) instead.
    expect(await documentOf(typename(0))).toBe(first);
    await documentOf(typename(MAX_CACHED_DOCUMENTS));
    expect(await documentOf(typename(0))).toBe(first);
    expect(await documentOf(typename(1))).not.toBe(second);
  });

  it(`keeps no text over ${MAX_CACHED_QUERY_CHARS} characters`, async () => {
    const long = `{ __typename }${' '.repeat(MAX_CACHED_QUERY_CHARS)}`;
    expect(await documentOf(long)).not.toBe(await documentOf(long));
    const atBound = `{ __typename }${' '.repeat(MAX_CACHED_QUERY_CHARS - 14)}`;
    expect(atBound.length).toBe(MAX_CACHED_QUERY_CHARS);
    expect(await documentOf(atBound)).toBe(await documentOf(atBound));
  });

  it('keeps no refused document: a refusal is given again', async () => {
    const refused = await prepare(open, { query: '{ noSuchField }' }, admit);
    const again = await prepare(open, { query: '{ noSuchField }' }, admit);
    expect(Array.isArray(refused) && Array.isArray(again)).toBe(true);
    expect((again as readonly GraphQLError[])[0]!.extensions.code).toBe('GRAPHQL_VALIDATION_FAILED');
  });
});
