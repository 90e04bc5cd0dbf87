// NODE_ENV=production: the WebSocket path hides schema details exactly as Apollo does over HTTP.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService, SubscriptionProbe, type RunningService } from '../support/service.js';

let svc: RunningService;
beforeAll(async () => {
  svc = await startService({ env: { NODE_ENV: 'production' } });
});
afterAll(async () => svc?.stop());

async function overWs(query: string) {
  const probe = new SubscriptionProbe(svc.ws(), query);
  await probe.until((p) => p.completed);
  return probe.errors as Array<{ message: string; extensions: Record<string, unknown> }>;
}

describe('production', () => {
  it('refuses introspection on both transports', async () => {
    const http = await svc.gql('{ __schema { queryType { name } } }');
    expect(http.errors![0]!.extensions!.code).toBe('GRAPHQL_VALIDATION_FAILED');
    const ws = await overWs('{ __schema { queryType { name } } }');
    expect(ws[0]!.extensions.code).toBe('GRAPHQL_VALIDATION_FAILED');
  });

  it('gives no "did you mean" hints on either transport', async () => {
    const http = await svc.gql('{ evnts { edges { cursor } } }');
    const ws = await overWs('subscription { eventLoged { id } }');
    for (const e of [...http.errors!, ...ws]) {
      expect(e.extensions!.code).toBe('GRAPHQL_VALIDATION_FAILED');
      expect(e.message).not.toMatch(/Did you mean/);
    }
  });

  it('still names fields and rules of bad input', async () => {
    const errors = await overWs('subscription { eventLogged(after: "x") { id } }');
    expect(errors[0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'after', rule: 'format' });
  });
});
