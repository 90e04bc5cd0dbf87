// Authentication and roles against the real service over HTTP and WebSocket: every role × every
// operation kind, keys limited to source applications, revocation, key secrets never shown again.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { whenSubscribed } from '../support/metrics.js';
import { startService, SubscriptionProbe, type RunningService } from '../support/service.js';

let svc: RunningService;
const keys: Record<string, string> = {};
const ids: Record<string, string> = {};

const CREATE = `mutation($role: ApiKeyRole!, $apps: [String!], $name: String) {
  createApiKey(role: $role, sourceAppIds: $apps, name: $name) { id secret key { id role sourceAppIds name createdAt revokedAt } } }`;
let n = 0;
const input = (sourceAppId: string) => ({
  sourceAppId,
  eventType: 'auth.test',
  timestamp: new Date(Date.UTC(2025, 0, 1) + ++n * 1000).toISOString(),
  payload: { n },
});
const LOG_EVENT = 'mutation($input: LogEventInput!) { logEvent(input: $input) { id } }';
const LOG_EVENTS = 'mutation($inputs: [LogEventInput!]!) { logEvents(inputs: $inputs) { id } }';

async function createKey(name: string, role: string, apps?: string[]) {
  const res = await svc.gql(CREATE, { role, apps, name });
  expect(res.errors, JSON.stringify(res.errors)).toBeUndefined();
  keys[name] = res.data.createApiKey.secret;
  ids[name] = res.data.createApiKey.id;
  return res.data.createApiKey;
}

const size = async (app: string): Promise<number> =>
  (await svc.gql(`{ log(sourceAppId: "${app}") { size } }`)).data.log?.size ?? 0;
const code = (res: { errors?: Array<{ extensions?: Record<string, any> }> }) => res.errors?.[0]?.extensions?.code ?? null;

beforeAll(async () => {
  svc = await startService();
  await createKey('writer', 'WRITER', ['app-a']);
  await createKey('reader', 'READER');
  await createKey('readerA', 'READER', ['app-a']);
  await createKey('auditor', 'AUDITOR', ['app-a']);
  await createKey('admin', 'ADMIN');
  for (const app of ['app-a', 'app-b', 'app-a', 'app-b'])
    expect((await svc.gql(LOG_EVENT, { input: input(app) })).errors).toBeUndefined();
  expect((await svc.gql('mutation { publishCheckpoints { treeSize } }')).errors).toBeUndefined();
});
afterAll(async () => svc?.stop());

// Each operation kind, runnable by every role; app-a is inside every limited key's scope.
const OPS: Record<string, () => [string, Record<string, unknown>?]> = {
  serverInfo: () => ['{ serverInfo { version verifierKey } }'],
  events: () => ['{ events(first: 5) { edges { node { id } } } }'],
  event: () => ['{ event(id: "app-a/0") { id } }'],
  log: () => [
    '{ log(sourceAppId: "app-a") { size latestCheckpoint { treeSize } checkpoints(first: 1) { edges { node { treeSize } } } } }',
  ],
  logs: () => ['{ logs { edges { node { sourceAppId } } } }'],
  checkpoint: () => ['{ checkpoint(sourceAppId: "app-a") { treeSize } }'],
  inclusionProof: () => ['{ inclusionProof(sourceAppId: "app-a", seq: 0) { hashes } }'],
  consistencyProof: () => ['{ consistencyProof(sourceAppId: "app-a", fromSize: 1, toSize: 2) { hashes } }'],
  rangeProof: () => ['{ rangeProof(sourceAppId: "app-a", start: 0, end: 1) { rootHash } }'],
  verifyLog: () => ['{ verifyLog(sourceAppId: "app-a") { ok } }'],
  logEvent: () => [LOG_EVENT, { input: input('app-a') }],
  logEvents: () => [LOG_EVENTS, { inputs: [input('app-a')] }],
  publishCheckpoints: () => ['mutation { publishCheckpoints { treeSize } }'],
  apiKeys: () => ['{ apiKeys { id } }'],
  createApiKey: () => [CREATE, { role: 'READER' }],
  revokeApiKey: () => ['mutation { revokeApiKey(id: "key_none") { id } }'],
};

const ALLOWED: Record<string, string[]> = {
  writer: ['serverInfo', 'events', 'event', 'log', 'logs', 'checkpoint', 'logEvent', 'logEvents'],
  reader: ['serverInfo', 'events', 'event', 'log', 'logs', 'checkpoint'],
  readerA: ['serverInfo', 'events', 'event', 'log', 'logs', 'checkpoint'],
  auditor: [
    'serverInfo',
    'events',
    'event',
    'log',
    'logs',
    'checkpoint',
    'inclusionProof',
    'consistencyProof',
    'rangeProof',
    'verifyLog',
  ],
  admin: Object.keys(OPS),
};

describe('roles matrix over HTTP', () => {
  for (const [role, allowed] of Object.entries(ALLOWED)) {
    for (const op of Object.keys(OPS)) {
      const ok = allowed.includes(op);
      it(`${role} ${ok ? 'may' : 'may not'} use ${op}`, async () => {
        const [query, variables] = OPS[op]!();
        const res = await svc.gqlAs(keys[role]!, query, variables);
        if (ok) {
          // revokeApiKey of an unknown id is allowed and answers NOT_FOUND.
          expect(code(res), JSON.stringify(res.errors)).toBe(op === 'revokeApiKey' ? 'NOT_FOUND' : null);
          expect(res.status).toBe(200);
        } else {
          expect(res.status).toBe(403);
          expect(res.errors![0]!.extensions).toMatchObject({ code: 'FORBIDDEN', field: op, rule: 'role' });
          expect(res.data).toBeUndefined();
        }
      });
    }
  }

  it("the REST range proof (the auditor's pages) is for the roles that may prove, within their logs", async () => {
    const get = (key: string | undefined, app = 'app-a') =>
      fetch(`${svc.url}/v1/logs/${app}/range-proof?start=0&end=1`, { headers: key ? { 'x-api-key': key } : {} });
    for (const role of ['auditor', 'admin']) expect((await get(keys[role])).status, role).toBe(200);
    for (const role of ['writer', 'reader', 'readerA']) {
      const res = await get(keys[role]);
      expect(res.status, role).toBe(403);
      expect(((await res.json()) as any).errors[0], role).toMatchObject({ code: 'FORBIDDEN', field: 'rangeProof', rule: 'role' });
    }
    const outside = await get(keys.auditor, 'app-b');
    expect(outside.status).toBe(403);
    expect(((await outside.json()) as any).errors[0]).toMatchObject({ code: 'FORBIDDEN', field: 'sourceAppId' });
    expect((await get(undefined)).status).toBe(401);
  });

  it('a forbidden field anywhere in the operation (also through a fragment) refuses all of it', async () => {
    const res = await svc.gqlAs(
      keys.reader!,
      'query { serverInfo { version } ...F } fragment F on Query { verifyLog(sourceAppId: "app-a") { ok } }',
    );
    expect(res.status).toBe(403);
    expect(code(res)).toBe('FORBIDDEN');
  });
});

describe('authentication', () => {
  it('without a key, with a wrong or malformed key: UNAUTHENTICATED, HTTP 401', async () => {
    for (const headers of [
      {},
      { 'x-api-key': 'clk_wrong' } as Record<string, string>,
      { authorization: 'Basic abc' },
      { authorization: `Bearer ${keys.reader}x` },
    ]) {
      const res = await fetch(`${svc.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: '{"query":"{ serverInfo { version } }"}',
      });
      expect(res.status).toBe(401);
      expect(((await res.json()) as any).errors[0].extensions.code).toBe('UNAUTHENTICATED');
    }
  });

  it('accepts Authorization: Bearer as well as x-api-key', async () => {
    const res = await fetch(`${svc.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${keys.reader}` },
      body: '{"query":"{ serverInfo { version } }"}',
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as any).data.serverInfo.version).toBeTruthy();
  });

  it('keys are clk_ + 32 random bytes, and their secret is never returned after creation', async () => {
    expect(keys.reader).toMatch(/^clk_[A-Za-z0-9_-]{43}$/);
    const list = await svc.gql('{ apiKeys { id role sourceAppIds name createdAt revokedAt } }');
    expect(list.data.apiKeys.map((k: any) => k.id)).toEqual(expect.arrayContaining(Object.values(ids)));
    expect(JSON.stringify(list.data)).not.toContain('clk_');
    expect(list.data.apiKeys.find((k: any) => k.id === ids.writer)).toMatchObject({
      role: 'WRITER',
      sourceAppIds: ['app-a'],
      name: 'writer',
      revokedAt: null,
    });
    const secretField = await svc.gql('{ apiKeys { id secret } }');
    expect(code(secretField)).toBe('GRAPHQL_VALIDATION_FAILED');
  });

  it('checks createApiKey arguments: writers name apps, admins may not', async () => {
    expect((await svc.gql(CREATE, { role: 'WRITER' })).errors![0]!.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'sourceAppIds',
      rule: 'required',
    });
    expect((await svc.gql(CREATE, { role: 'ADMIN', apps: ['x'] })).errors![0]!.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'sourceAppIds',
    });
    expect(code(await svc.gql(CREATE, { role: 'READER', apps: ['bad id'] }))).toBe('BAD_USER_INPUT');
  });

  it('a revoked key is refused at once, and its open subscription ends with UNAUTHENTICATED', async () => {
    const { secret, id } = await createKey('doomed', 'READER');
    expect(code(await svc.gqlAs(secret, '{ serverInfo { version } }'))).toBeNull();
    const probe = await whenSubscribed(svc, () => new SubscriptionProbe(svc.wsAs(secret), 'subscription { eventLogged { id } }'));
    await svc.gql(LOG_EVENT, { input: input('app-b') });
    await probe.until((p) => p.values.length >= 1);
    const revoked = await svc.gql('mutation($id: ID!) { revokeApiKey(id: $id) { id revokedAt } }', { id });
    expect(revoked.data.revokeApiKey.revokedAt).toBeTruthy();
    const res = await svc.gqlAs(secret, '{ serverInfo { version } }');
    expect(res.status).toBe(401);
    expect(code(res)).toBe('UNAUTHENTICATED');
    await probe.until((p) => p.completed, 8000);
    expect((probe.errors[0] as any).extensions?.code ?? (probe.errors[0] as any).message).toMatch(/UNAUTHENTICATED|revoked/);
    // A new connection with the revoked key gets no connection_ack: graphql-ws's 4403 Forbidden.
    const ws = new SubscriptionProbe(svc.wsAs(secret), 'subscription { eventLogged { id } }');
    await ws.until((p) => p.completed);
    expect((ws.errors[0] as any).code).toBe(4403);
    expect((await svc.gql('{ apiKeys { id } }')).data.apiKeys.map((k: any) => k.id)).not.toContain(id);
    expect((await svc.gql('{ apiKeys(includeRevoked: true) { id } }')).data.apiKeys.map((k: any) => k.id)).toContain(id);
  });
});

describe('who created a key', () => {
  it('is recorded: the bootstrap key as `bootstrap`, an admin key by its id', async () => {
    const byAdmin = await svc.gqlAs(keys.admin!, CREATE, { role: 'READER', name: 'made-by-admin' });
    expect(byAdmin.errors).toBeUndefined();
    const listed = (await svc.gql('{ apiKeys { id name createdBy } }')).data.apiKeys as Array<{
      id: string;
      createdBy: string | null;
    }>;
    expect(listed.find((k) => k.id === ids.reader)?.createdBy).toBe('bootstrap');
    expect(listed.find((k) => k.id === byAdmin.data.createApiKey.id)?.createdBy).toBe(ids.admin);
  });
});

describe('keys limited to source applications', () => {
  it('a writer may not write to another app; a batch with one such item is refused whole', async () => {
    const before = await size('app-a');
    const one = await svc.gqlAs(keys.writer!, LOG_EVENT, { input: input('app-b') });
    expect(one.errors![0]!.extensions).toMatchObject({ code: 'FORBIDDEN', field: 'sourceAppId', rule: 'scope' });
    const batch = await svc.gqlAs(keys.writer!, LOG_EVENTS, { inputs: [input('app-a'), input('app-b'), input('app-a')] });
    expect(batch.data).toBeNull();
    expect(batch.errors![0]!.extensions).toMatchObject({ code: 'FORBIDDEN', field: 'inputs', rule: 'scope' });
    expect(batch.errors![0]!.extensions!.errors.map((e: any) => [e.index, e.code])).toEqual([[1, 'FORBIDDEN']]);
    expect(await size('app-a')).toBe(before);
  });

  it('REST ingest: 401 without a key, 403 for a reader or another app (nothing written), 201 for its own app', async () => {
    const post = (key: string | null, body: unknown) =>
      fetch(`${svc.url}/v1/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(key && { 'x-api-key': key }) },
        body: JSON.stringify(body),
      });
    const before = await size('app-a');
    const anon = await post(null, input('app-a'));
    expect(anon.status).toBe(401);
    expect(((await anon.json()) as any).errors[0].code).toBe('UNAUTHENTICATED');
    const reader = await post(keys.reader!, input('app-a'));
    expect(reader.status).toBe(403);
    expect(((await reader.json()) as any).errors[0]).toMatchObject({ code: 'FORBIDDEN' });
    const mixed = await post(keys.writer!, [input('app-a'), input('app-b')]);
    expect(mixed.status).toBe(403);
    expect(((await mixed.json()) as any).errors).toEqual([
      expect.objectContaining({ code: 'FORBIDDEN', index: 1, field: 'sourceAppId', rule: 'scope' }),
    ]);
    expect(await size('app-a')).toBe(before);
    const ok = await post(keys.writer!, [input('app-a')]);
    expect(ok.status).toBe(201);
    expect(await size('app-a')).toBe(before + 1);
  });

  it('a limited reader sees only its apps in events and logs; naming another app is FORBIDDEN', async () => {
    const all = await svc.gqlAs(keys.readerA!, '{ events(first: 500) { edges { node { sourceAppId } } } }');
    const apps = new Set(all.data.events.edges.map((e: any) => e.node.sourceAppId));
    expect([...apps]).toEqual(['app-a']);
    const logs = await svc.gqlAs(keys.readerA!, '{ logs(first: 1) { edges { node { sourceAppId } } pageInfo { hasNextPage } } }');
    expect(logs.data.logs).toEqual({ edges: [{ node: { sourceAppId: 'app-a' } }], pageInfo: { hasNextPage: false } });
    for (const q of [
      '{ events(filter: { sourceAppIds: ["app-a", "app-b"] }) { edges { cursor } } }',
      '{ event(id: "app-b/0") { id } }',
      '{ event(id: "app-nope/0") { id } }',
      '{ log(sourceAppId: "app-b") { size } }',
      '{ checkpoint(sourceAppId: "app-b") { treeSize } }',
    ]) {
      const res = await svc.gqlAs(keys.readerA!, q);
      expect(res.errors![0]!.extensions, q).toMatchObject({ code: 'FORBIDDEN', rule: 'scope' });
    }
    const proof = await svc.gqlAs(keys.auditor!, '{ verifyLog(sourceAppId: "app-b") { ok } }');
    expect(code(proof)).toBe('FORBIDDEN');
    const unlimited = await svc.gqlAs(
      keys.reader!,
      '{ events(filter: { sourceAppIds: ["app-b"] }) { edges { node { sourceAppId } } } }',
    );
    expect(unlimited.data.events.edges.length).toBeGreaterThan(0);
  });

  it("a limited reader's subscriptions carry only its apps; subscribing to another app is FORBIDDEN", async () => {
    const events = await whenSubscribed(
      svc,
      () =>
        new SubscriptionProbe<{ eventLogged: { sourceAppId: string } }>(
          svc.wsAs(keys.readerA!),
          'subscription { eventLogged { sourceAppId } }',
        ),
    );
    const checkpoints = await whenSubscribed(
      svc,
      () =>
        new SubscriptionProbe<{ checkpointPublished: { checkpoint: { sourceAppId: string; treeSize: number } } }>(
          svc.wsAs(keys.readerA!),
          'subscription { checkpointPublished { checkpoint { sourceAppId treeSize } } }',
        ),
      { field: 'checkpointPublished' },
    );
    for (const app of ['app-b', 'app-a', 'app-b', 'app-a']) await svc.gql(LOG_EVENT, { input: input(app) });
    await svc.gql('mutation { publishCheckpoints { treeSize } }');
    // A last event of app-a and its checkpoint: each stream delivers in order, so once they are in, anything
    // of app-b that leaked would be in too.
    await svc.gql(LOG_EVENT, { input: input('app-a') });
    const last = await size('app-a');
    await svc.gql('mutation { publishCheckpoints { treeSize } }');
    await events.until((p) => p.values.length >= 3);
    await checkpoints.until((p) =>
      p.values.some(
        (v) => v.checkpointPublished.checkpoint.sourceAppId === 'app-a' && v.checkpointPublished.checkpoint.treeSize === last,
      ),
    );
    expect(events.values.map((v) => v.eventLogged.sourceAppId)).toEqual(['app-a', 'app-a', 'app-a']);
    expect(new Set(checkpoints.values.map((v) => v.checkpointPublished.checkpoint.sourceAppId))).toEqual(new Set(['app-a']));
    for (const q of [
      'subscription { eventLogged(filter: { sourceAppIds: ["app-b"] }) { id } }',
      'subscription { eventLogged(after: "app-b/0") { id } }',
      'subscription { checkpointPublished(sourceAppId: "app-b") { previous { treeSize } } }',
    ]) {
      const probe = new SubscriptionProbe(svc.wsAs(keys.readerA!), q);
      await probe.until((p) => p.completed);
      expect((probe.errors[0] as any).extensions.code, q).toBe('FORBIDDEN');
    }
  });

  it('over WebSocket: no key closes with 4401, a wrong key with 4403, a role refusal is FORBIDDEN', async () => {
    const anon = new SubscriptionProbe(svc.wsAs(null), 'subscription { eventLogged { id } }');
    await anon.until((p) => p.completed);
    expect((anon.errors[0] as any).code).toBe(4401);
    const wrong = new SubscriptionProbe(svc.wsAs('clk_not-a-key'), '{ serverInfo { version } }');
    await wrong.until((p) => p.completed);
    expect((wrong.errors[0] as any).code).toBe(4403);
    const reader = new SubscriptionProbe(
      svc.wsAs(keys.reader!),
      `mutation { logEvent(input: { sourceAppId: "app-a", eventType: "x", timestamp: "2025-01-01T00:00:00Z", payload: {} }) { id } }`,
    );
    await reader.until((p) => p.completed);
    expect((reader.errors[0] as any).extensions.code).toBe('FORBIDDEN');
    // Counted open on the server: accepted, not refused.
    const writer = await whenSubscribed(
      svc,
      () =>
        new SubscriptionProbe(svc.wsAs(keys.writer!), 'subscription { eventLogged(filter: { sourceAppIds: ["app-a"] }) { id } }'),
    );
    expect(writer.errors).toEqual([]);
    expect(writer.completed).toBe(false);
  });
});

describe('/metrics and /healthz', () => {
  it('/healthz is open; /metrics needs an admin key', async () => {
    expect((await fetch(`${svc.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${svc.url}/metrics`)).status).toBe(401);
    expect((await fetch(`${svc.url}/metrics`, { headers: { 'x-api-key': keys.auditor! } })).status).toBe(403);
    expect((await fetch(`${svc.url}/metrics`, { headers: { authorization: `Bearer ${keys.admin}` } })).status).toBe(200);
  });
});
