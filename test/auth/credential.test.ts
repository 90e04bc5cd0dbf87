import { describe, expect, it } from 'vitest';
import { credentialFrom } from '../../src/auth/secrets.js';

const SECRET = 'clk_abc';

describe('the credential a request carries', () => {
  it('is none without a key header, in any bag', () => {
    expect(credentialFrom({ host: 'x', 'content-type': 'application/json' }, undefined, {})).toEqual({ kind: 'none' });
  });

  it('reads x-api-key, apiKey and Authorization: Bearer, names compared without case', () => {
    expect(credentialFrom({ 'x-api-key': SECRET })).toEqual({ kind: 'secret', secret: SECRET });
    expect(credentialFrom({ apiKey: SECRET })).toEqual({ kind: 'secret', secret: SECRET });
    expect(credentialFrom({ 'X-Api-Key': SECRET })).toEqual({ kind: 'secret', secret: SECRET });
    expect(credentialFrom({ Authorization: `Bearer ${SECRET}` })).toEqual({ kind: 'secret', secret: SECRET });
    expect(credentialFrom({ authorization: `bearer  ${SECRET} ` })).toEqual({ kind: 'secret', secret: SECRET });
  });

  it('prefers the key header to Authorization in a bag, whatever their order', () => {
    expect(credentialFrom({ authorization: 'Bearer other', 'x-api-key': SECRET })).toEqual({ kind: 'secret', secret: SECRET });
    expect(credentialFrom({ 'x-api-key': SECRET, authorization: 'Basic Zm9v' })).toEqual({ kind: 'secret', secret: SECRET });
  });

  it('takes the first of two key names the bag holds, skipping one that is null or undefined', () => {
    expect(credentialFrom({ apikey: 'clk_first', 'x-api-key': 'clk_second' })).toEqual({ kind: 'secret', secret: 'clk_first' });
    expect(credentialFrom({ apiKey: null, 'x-api-key': SECRET })).toEqual({ kind: 'secret', secret: SECRET });
    expect(credentialFrom({ apiKey: undefined, Authorization: `Bearer ${SECRET}` })).toEqual({ kind: 'secret', secret: SECRET });
  });

  it('lets a later bag (connectionParams after the upgrade headers) decide', () => {
    expect(credentialFrom({ authorization: 'Basic Zm9v' }, { apiKey: SECRET })).toEqual({ kind: 'secret', secret: SECRET });
    expect(credentialFrom({ 'x-api-key': 'clk_http' }, { Authorization: `Bearer ${SECRET}` })).toEqual({
      kind: 'secret',
      secret: SECRET,
    });
    expect(credentialFrom({ 'x-api-key': SECRET }, { other: 1 })).toEqual({ kind: 'secret', secret: SECRET });
  });

  it('reads the first of repeated values, and refuses values that are not strings or not Bearer', () => {
    expect(credentialFrom({ 'x-api-key': [SECRET, 'clk_b'] })).toEqual({ kind: 'secret', secret: SECRET });
    expect(credentialFrom({ apiKey: 42 })).toEqual({ kind: 'malformed' });
    expect(credentialFrom({ authorization: 'Basic Zm9v' })).toEqual({ kind: 'malformed', problem: 'scheme' });
    expect(credentialFrom({ 'x-api-key': 'clk a' })).toEqual({ kind: 'malformed' });
    expect(credentialFrom({ 'x-api-key': 'x'.repeat(513) })).toEqual({ kind: 'malformed' });
  });

  it('reads only the own properties of a bag', () => {
    const inherited = Object.create({ 'x-api-key': SECRET }) as Record<string, unknown>;
    expect(credentialFrom(inherited)).toEqual({ kind: 'none' });
  });
});
