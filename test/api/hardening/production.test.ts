// NODE_ENV=production on the real service: introspection refused on both transports (400, no schema
// served), and an unexpected failure (the database locked by another process) reaches the client as a
// bare INTERNAL_SERVER_ERROR, without the driver's message or a stack; the service stays up.
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService, SubscriptionProbe, type RunningService } from '../../support/service.js';

let svc: RunningService;
beforeAll(async () => {
  svc = await startService({ env: { AUTH: 'off', NODE_ENV: 'production' } });
});
afterAll(async () => svc?.stop());

describe('production', () => {
  it.each(['{ __schema { types { name } } }', '{ __type(name: "Event") { fields { name } } }'])(
    'refuses introspection %s over HTTP (400) and WebSocket',
    async (query) => {
      const http = await svc.gql(query);
      expect(http.status).toBe(400);
      expect(http.data).toBeUndefined();
      expect(http.errors![0]!.extensions!.code).toBe('GRAPHQL_VALIDATION_FAILED');
      const probe = new SubscriptionProbe(svc.ws(), query);
      await probe.until((p) => p.completed);
      expect(probe.values).toEqual([]);
      expect((probe.errors[0] as { extensions: { code: string } }).extensions.code).toBe('GRAPHQL_VALIDATION_FAILED');
    },
  );

  it('masks an unexpected storage failure: INTERNAL_SERVER_ERROR, no driver message, no stack', async () => {
    const locker = new Database(join(svc.dataDir, 'chainlog.db'));
    locker.pragma('busy_timeout = 100');
    locker.exec('BEGIN EXCLUSIVE');
    let res;
    try {
      res = await svc.gql('mutation($in: LogEventInput!) { logEvent(input: $in) { seq } }', {
        in: { eventType: 'locked', timestamp: new Date().toISOString(), sourceAppId: 'prod-app', payload: {} },
      });
    } finally {
      locker.exec('ROLLBACK');
      locker.close();
    }
    const body = JSON.stringify(res);
    expect(res.errors, body).toHaveLength(1);
    const { locations: _l, path: _p, ...error } = res.errors![0] as Record<string, unknown>;
    expect(error).toEqual({ message: 'Internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR' } });
    expect(body).not.toMatch(/SQLITE|database|locked|stack|at \w+ \(/i);
    // Still up and writing once the lock is gone.
    const ok = await svc.gql('mutation($in: LogEventInput!) { logEvent(input: $in) { seq } }', {
      in: { eventType: 'unlocked', timestamp: new Date().toISOString(), sourceAppId: 'prod-app', payload: {} },
    });
    expect(ok.errors, JSON.stringify(ok)).toBeUndefined();
  }, 30_000);
});
