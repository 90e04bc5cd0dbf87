// The counting behind GRAPHQL_MAX_SELECTIONS, GRAPHQL_MAX_FIELDS and GRAPHQL_MAX_ITEMS, on documents an
// attacker would shape: fragment cycles, fan-out, variables and their defaults, last instead of first.
import { getOperationAST, parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { checkDocumentShape, countItems } from '../../../src/api/hardening/document-shape.js';

const LIMITS = { maxSelections: 10, maxFields: 50 };
const shape = (q: string) => checkDocumentShape(parse(q), LIMITS)?.extensions;
const items = (q: string, variables?: Record<string, unknown>) => {
  const doc = parse(q);
  return countItems(doc, getOperationAST(doc)!, variables);
};

describe('document shape', () => {
  it('passes a document within both limits', () => {
    expect(shape('{ serverInfo { version keyName } }')).toBeUndefined();
  });

  it('counts selections written in one set, spreads included', () => {
    expect(shape(`{ ${'__typename '.repeat(11)}}`)).toMatchObject({ rule: 'maxSelections' });
    expect(shape(`fragment F on Query { __typename } { ${'...F '.repeat(11)}}`)).toMatchObject({ rule: 'maxSelections' });
  });

  it('counts fields with fragments expanded where spread, nested fan-out included', () => {
    const fanOut = `fragment A on Query { ${'__typename '.repeat(8)}} fragment B on Query { ${'...A '.repeat(8)}} { ...B }`;
    expect(shape(fanOut)).toMatchObject({ rule: 'maxFields', code: 'GRAPHQL_VALIDATION_FAILED' });
  });

  it('stops on fragment cycles instead of looping (validation reports the cycle)', () => {
    expect(shape('fragment A on Query { ...B } fragment B on Query { ...A __typename } { ...A }')).toBeUndefined();
  });
});

describe('items an operation may return', () => {
  it('counts page sizes across aliases and nesting, with the default page size when none is given', () => {
    expect(items('{ a: events(first: 10) { edges { cursor } } b: events(last: 20) { edges { cursor } } }')).toBe(30);
    expect(items('{ events { edges { cursor } } }')).toBe(50);
    expect(items('{ logs(first: 3) { edges { node { checkpoints(first: 4) { edges { cursor } } } } } }')).toBe(3 + 12);
  });

  it('counts each list of items selected on a page (edges, nodes, under any alias, through fragments), at least once', () => {
    expect(items('{ events(first: 10) { nodes { seq } } }')).toBe(10);
    expect(items('{ events(first: 10) { edges { cursor } nodes { seq } } }')).toBe(20);
    expect(items('{ events(first: 10) { a: nodes { seq } b: nodes { seq } pageInfo { hasNextPage } } }')).toBe(20);
    expect(items('{ events(first: 10) { pageInfo { hasNextPage } } }')).toBe(10);
    expect(
      items(
        'fragment N on EventConnection { nodes { seq } } { events(first: 10) { ...N ... on EventConnection { edges { cursor } } } }',
      ),
    ).toBe(20);
    expect(items('fragment N on EventConnection { nodes { seq } ...N } { events(first: 10) { ...N } }')).toBe(10);
    expect(
      items('{ logs(first: 3) { nodes { checkpoints(first: 4) { nodes { treeSize } edges { cursor } } } edges { cursor } } }'),
    ).toBe(6 + 24);
  });

  it('counts a page over the maximum as the maximum (execution refuses it) and counts at least one', () => {
    expect(items('{ events(first: 100000) { edges { cursor } } }')).toBe(500);
    expect(items('{ serverInfo { version } }')).toBe(1);
  });

  it('counts each erasureRecords read as the 100 records it may hold, through aliases', () => {
    expect(items('{ erasureRecords(sourceAppId: "a") { next } }')).toBe(100);
    expect(
      items('{ a: erasureRecords(sourceAppId: "a") { next } b: erasureRecords(sourceAppId: "a", from: 100) { next } }'),
    ).toBe(200);
  });

  it('reads variables, then their defaults; a value coercion will refuse counts as the default page', () => {
    const q = 'query($n: Int = 7) { events(first: $n) { edges { cursor } } }';
    expect(items(q, { n: 300 })).toBe(300);
    expect(items(q, {})).toBe(7);
    expect(items(q, { n: 'many' })).toBe(50);
  });

  it('counts fragments where they are spread', () => {
    expect(
      items(
        'fragment P on Query { events(first: 100) { edges { cursor } } } { ...P a: events(first: 1) { edges { cursor } } ... on Query { ...P } }',
      ),
    ).toBe(201);
  });
});
