// GET /openapi.json on the real service: an OpenAPI 3.1 document of the REST endpoints whose request
// schema is the one the server validates with (its limits are the running server's settings).
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openApiDocument } from '../../../src/api/rest/openapi.js';
import { loadConfig } from '../../../src/config.js';
import { startService, type RunningService } from '../../support/service.js';
import { addCheckpoint, TestLog } from '../../support/witness-log.js';

const witnessed = new TestLog('example.com/openapi');
let svc: RunningService;
let dir: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'chainlog-openapi-'));
  const logsFile = join(dir, 'witnessed-logs');
  writeFileSync(logsFile, `log ${witnessed.vkey}\n`);
  svc = await startService({
    env: { MAX_BATCH_SIZE: '7', CHECKPOINT_INTERVAL_MS: '100', WITNESSED_LOGS_FILE: logsFile, WITNESS_RATE_LIMIT_PER_SEC: '0' },
  });
});
afterAll(async () => {
  await svc?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A documented path template filled in with `values` (every {name} must have one). */
function fill(template: string, values: Record<string, string>): string {
  return template.replace(/\{(\w+)\}/g, (_, name: string) => {
    expect(values, `a value for {${name}}`).toHaveProperty(name);
    return encodeURIComponent(values[name]!);
  });
}

/** The answer matches the document: a status it lists, with the media type it names for it. */
function expectDocumented(operation: any, res: Response) {
  const documented = operation.responses[String(res.status)];
  expect(documented, `status ${res.status} is documented`).toBeDefined();
  const mediaTypes = Object.keys(documented.content ?? {});
  if (mediaTypes.length > 0) expect(res.headers.get('content-type')?.split(';')[0]).toBe(mediaTypes[0]);
}

/** Every parameter's value satisfies its documented schema's pattern or enum. */
function expectValidParameters(operation: any, values: Record<string, string>) {
  for (const p of operation.parameters ?? []) {
    if (!(p.name in values)) continue;
    if (p.schema.pattern) expect(values[p.name], p.name).toMatch(new RegExp(p.schema.pattern));
    if (p.schema.enum) expect(p.schema.enum).toContain(values[p.name]);
  }
}

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
    expect(Object.keys(doc.paths).sort()).toEqual([
      '/healthz',
      '/tlog/{app}/checkpoint',
      '/tlog/{app}/tile/entries/{n}',
      '/tlog/{app}/tile/entries/{n}.p/{width}',
      '/tlog/{app}/tile/{level}/{n}',
      '/tlog/{app}/tile/{level}/{n}.p/{width}',
      '/v1/events',
      '/v1/events/{app}/{seq}/receipt',
      '/v1/logs/{app}/range-proof',
      '/witness/add-checkpoint',
      '/witness/{originHash}/checkpoint',
    ]);
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

describe('/openapi.json: the read, tile, receipt and witness routes', () => {
  let doc: any;
  let app: string;
  beforeAll(async () => {
    doc = await (await fetch(`${svc.url}/openapi.json`)).json();
    app = 'openapi-reads';
    // 300 events: a full entry bundle and hash tile at index 000 once a checkpoint covers them.
    for (let i = 0; i < 300; i += 7) {
      const batch = Array.from({ length: Math.min(7, 300 - i) }, (_, j) => event(app, i + j));
      expect((await post(batch)).status).toBe(201);
    }
  });

  async function get(template: string, values: Record<string, string>) {
    const operation = doc.paths[template].get;
    expectValidParameters(operation, values);
    const res = await fetch(`${svc.url}${fill(template, values)}`, { headers: svc.authHeaders() });
    expectDocumented(operation, res);
    return res;
  }

  it('POST /v1/events?wait=receipt: the documented query parameter gives each event its receipt', async () => {
    const operation = doc.paths['/v1/events'].post;
    expect(operation.parameters).toEqual([
      expect.objectContaining({ name: 'wait', in: 'query', schema: { type: 'string', enum: ['receipt'] } }),
      expect.objectContaining({ name: 'Prefer', in: 'header', required: false }),
    ]);
    const res = await fetch(`${svc.url}/v1/events?wait=receipt`, {
      method: 'POST',
      headers: { ...svc.authHeaders(), 'content-type': 'application/json' },
      body: JSON.stringify(event(app, 1000)),
    });
    expectDocumented(operation, res);
    const body = (await res.json()) as any;
    expect(body.events[0].receipt).toMatchObject({ status: 'READY', proof: expect.stringContaining('c2sp.org/tlog-proof@v1') });
    const withReceipts = operation.responses['201'].content['application/json'].schema.anyOf[1];
    expect(withReceipts.properties.events.items.required).toContain('receipt');
    const refused = await fetch(`${svc.url}/v1/events?wait=later`, {
      method: 'POST',
      headers: { ...svc.authHeaders(), 'content-type': 'application/json' },
      body: JSON.stringify(event(app, 1001)),
    });
    expect(refused.status).toBe(400);
  });

  it('POST /v1/events with Prefer: return=minimal: the answer has the documented minimal shape', async () => {
    const operation = doc.paths['/v1/events'].post;
    const res = await fetch(`${svc.url}/v1/events`, {
      method: 'POST',
      headers: { ...svc.authHeaders(), 'content-type': 'application/json', prefer: 'return=minimal' },
      body: JSON.stringify(event(app, 1002)),
    });
    expectDocumented(operation, res);
    expect(res.headers.get('preference-applied')).toBe('return=minimal');
    expect(operation.responses['201'].headers['Preference-Applied'].schema.const).toBe('return=minimal');
    const body = (await res.json()) as any;
    const minimal = operation.responses['201'].content['application/json'].schema.anyOf[2];
    expect(Object.keys(body.events[0]).sort()).toEqual([...minimal.properties.events.items.required].sort());
  });

  it('GET the receipt, the checkpoint and the tiles at their documented paths', async () => {
    const receipt = await get('/v1/events/{app}/{seq}/receipt', { app, seq: '3' });
    expect(receipt.status).toBe(200);
    expect(await receipt.text()).toContain('c2sp.org/tlog-proof@v1');
    const missing = await get('/v1/events/{app}/{seq}/receipt', { app, seq: '999999' });
    expect(missing.status).toBe(404);

    const checkpoint = await get('/tlog/{app}/checkpoint', { app });
    expect(checkpoint.status).toBe(200);
    const size = Number((await checkpoint.text()).split('\n')[1]);
    expect(size).toBeGreaterThanOrEqual(300);

    const full = await get('/tlog/{app}/tile/{level}/{n}', { app, level: '0', n: '000' });
    expect(full.status).toBe(200);
    expect((await full.arrayBuffer()).byteLength).toBe(256 * 32);
    const partial = await get('/tlog/{app}/tile/{level}/{n}.p/{width}', {
      app,
      level: '0',
      n: '001',
      width: String(size - 256),
    });
    expect(partial.status).toBe(200);
    expect((await partial.arrayBuffer()).byteLength).toBe((size - 256) * 32);
    const bundle = await get('/tlog/{app}/tile/entries/{n}', { app, n: '000' });
    expect(bundle.status).toBe(200);
    const partialBundle = await get('/tlog/{app}/tile/entries/{n}.p/{width}', { app, n: '001', width: String(size - 256) });
    expect(partialBundle.status).toBe(200);
    // A tile beyond the tree is a documented answer too.
    const beyond = await get('/tlog/{app}/tile/{level}/{n}', { app, level: '0', n: '999' });
    expect(beyond.status).toBeGreaterThanOrEqual(400);
  });

  it('GET /v1/logs/{app}/range-proof: start and end are required, treeSize and nodes are not, as the server has them', async () => {
    const template = '/v1/logs/{app}/range-proof';
    const operation = doc.paths[template].get;
    const query = Object.fromEntries(
      operation.parameters.filter((p: any) => p.in === 'query').map((p: any) => [p.name, p.required]),
    );
    expect(query).toEqual({ start: true, end: true, treeSize: false, nodes: false });
    const page = async (params: Record<string, string>) => {
      expectValidParameters(operation, params);
      const res = await fetch(`${svc.url}${fill(template, { app })}?${new URLSearchParams(params).toString()}`, {
        headers: svc.authHeaders(),
      });
      expectDocumented(operation, res);
      return { status: res.status, body: (await res.json()) as any };
    };
    // The required ones alone are enough: the latest checkpoint's tree.
    const ok = await page({ start: '0', end: '10' });
    expect(ok.status).toBe(200);
    expect(ok.body.events).toHaveLength(10);
    expect(ok.body.treeSize).toBeGreaterThanOrEqual(300);
    for (const missing of ['start', 'end']) {
      const refused = await page(missing === 'start' ? { end: '10' } : { start: '0' });
      expect(refused.status, missing).toBe(400);
      expect(refused.body.errors[0]).toMatchObject({ code: 'BAD_USER_INPUT', field: missing });
    }
    // nodes=true adds the documented runs; any other value is refused, naming it.
    const withNodes = await page({ start: '0', end: '10', nodes: 'true' });
    expect(withNodes.status).toBe(200);
    expect(withNodes.body.nodes.map((r: any) => [r.level, r.index, r.hashes.length])).toEqual([
      [1, 0, 5],
      [2, 0, 2],
      [3, 0, 1],
    ]);
    expect(ok.body).not.toHaveProperty('nodes');
    const res = await fetch(`${svc.url}${fill(template, { app })}?start=0&end=10&nodes=yes`, { headers: svc.authHeaders() });
    expect(res.status).toBe(400);
    expect(((await res.json()) as any).errors[0]).toMatchObject({ code: 'BAD_USER_INPUT', field: 'nodes', rule: 'format' });
  });

  it('POST /witness/add-checkpoint: text in, the documented statuses and content types out', async () => {
    const operation = doc.paths['/witness/add-checkpoint'].post;
    expect(Object.keys(operation.requestBody.content)).toEqual(['text/plain']);
    expect(Object.keys(operation.responses).sort()).toEqual(['200', '400', '403', '404', '409', '413', '422', '429']);
    expect(operation.security).toBeUndefined();
    const answer = async (body: string) => {
      const res = await fetch(`${svc.url}/witness/add-checkpoint`, {
        method: 'POST',
        body,
        headers: { 'content-type': 'text/plain' },
      });
      expectDocumented(operation, res);
      return res.status;
    };
    expect(await answer(witnessed.body(0, 8))).toBe(200);
    expect(await answer(witnessed.body(0, 16))).toBe(409);
    expect(await answer(witnessed.fork(4).body(8, 16, witnessed.tree.consistency(8, 16)))).toBe(422);
    expect(await answer(new TestLog('example.com/unknown').body(0, 8))).toBe(404);
    expect(await answer('old x\n')).toBe(400);
    // The same request through the shared helper the witness suites use.
    expect((await addCheckpoint(svc.url, witnessed.body(8, 16))).status).toBe(200);
  });

  it('GET /witness/{originHash}/checkpoint: the view of a witnessed origin, 404 for another', async () => {
    const operation = doc.paths['/witness/{originHash}/checkpoint'].get;
    expect(operation.parameters[0]).toMatchObject({ name: 'originHash', in: 'path', required: true });
    const hash = createHash('sha256').update(witnessed.origin).digest('hex');
    const seen = await get('/witness/{originHash}/checkpoint', { originHash: hash });
    expect(seen.status).toBe(200);
    expect(await seen.text()).toContain(`${witnessed.origin}\n16\n`);
    const unseen = await get('/witness/{originHash}/checkpoint', { originHash: '0'.repeat(64) });
    expect(unseen.status).toBe(404);
  });

  it('lists POST /witness/add-checkpoint only when the witness is on (WITNESSED_LOGS_FILE)', () => {
    const off = openApiDocument(loadConfig({ DATA_DIR: dir }), 'test') as any;
    expect(off.paths['/witness/add-checkpoint']).toBeUndefined();
    expect(off.paths['/witness/{originHash}/checkpoint']).toBeDefined();
  });
});
