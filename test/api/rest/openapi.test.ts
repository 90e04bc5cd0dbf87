// GET /openapi.json on the real service: an OpenAPI 3.1 document of the REST endpoints whose request
// schema is the one the server validates with (its limits are the running server's settings).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService, type RunningService } from '../../support/service.js';

let svc: RunningService;
beforeAll(async () => {
  svc = await startService({ env: { MAX_BATCH_SIZE: '7' } });
});
afterAll(async () => svc?.stop());

const event = (sourceAppId: string, i: number) => ({
  sourceAppId,
  eventType: 'openapi',
  timestamp: new Date(Date.now() - 1000 + i).toISOString(),
  payload: { i },
});

async function post(body: unknown) {
  const res = await fetch(`${svc.url}/v1/events`, {
    method: 'POST',
    headers: { ...svc.authHeaders(), 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as any };
}

describe('/openapi.json', () => {
  let doc: any;
  beforeAll(async () => {
    const res = await fetch(`${svc.url}/openapi.json`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    doc = await res.json();
  });

  it('is an OpenAPI 3.1 document of the REST endpoints, public, with the key schemes', () => {
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths).sort()).toEqual(['/healthz', '/v1/events']);
    expect(doc.paths['/v1/events'].post.security).toEqual([{ apiKey: [] }, { bearer: [] }]);
    expect(doc.components.securitySchemes.apiKey).toEqual({ type: 'apiKey', in: 'header', name: 'x-api-key' });
    expect(Object.keys(doc.paths['/healthz'].get.responses).sort()).toEqual(['200', '503']);
    expect(JSON.stringify(doc)).not.toContain('$schema');
  });

  it('describes the body the server validates: one event or a batch of at most MAX_BATCH_SIZE', async () => {
    const [one, batch] = doc.paths['/v1/events'].post.requestBody.content['application/json'].schema.anyOf;
    expect(one.required).toEqual(['sourceAppId', 'eventType', 'timestamp', 'payload']);
    expect(one.additionalProperties).toBe(false);
    expect(one.properties.timestamp).toMatchObject({ type: 'string', format: 'date-time' });
    expect(one.properties.payload).toMatchObject({ type: 'object' });
    expect(batch).toMatchObject({ type: 'array', minItems: 1, maxItems: 7 });

    const within = await post(Array.from({ length: 7 }, (_, i) => event('openapi', i)));
    expect(within.status).toBe(201);
    const over = await post(Array.from({ length: 8 }, (_, i) => event('openapi', i)));
    expect(over.status).toBe(400);

    // The document's pattern for sourceAppId is the server's rule.
    const pattern = new RegExp(one.properties.sourceAppId.pattern);
    expect(pattern.test('has space')).toBe(false);
    const refused = await post(event('has space', 0));
    expect(refused.status).toBe(400);
    expect(refused.body.errors[0]).toMatchObject({ code: 'BAD_USER_INPUT', field: 'sourceAppId' });
    // An unknown field, which additionalProperties: false rules out, is refused too.
    const extra = await post({ ...event('openapi', 9), extra: 1 });
    expect(extra.status).toBe(400);
  });
});
