import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';

describe('configuration', () => {
  it('has the documented defaults', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      PORT: 4000,
      HOST: '127.0.0.1',
      DATA_DIR: './data',
      CHECKPOINT_INTERVAL_MS: 1000,
      ORIGIN_PREFIX: 'chainlog.local',
      keyName: 'chainlog.local',
      production: false,
      MAX_CONCURRENT_AUDITS: 2,
      MONGODB_TIMEOUT_MS: 30_000,
    });
    expect(c.MONGODB_URI).toBeUndefined();
  });

  it('refuses a MongoDB time limit below 100 ms, naming the setting', () => {
    expect(() => loadConfig({ MONGODB_TIMEOUT_MS: '50' })).toThrow(/MONGODB_TIMEOUT_MS: .*100/);
    expect(loadConfig({ MONGODB_TIMEOUT_MS: '1500' }).MONGODB_TIMEOUT_MS).toBe(1500);
  });

  it('leaves the MongoDB write concurrency to the engine unless set, and refuses one outside 1-256, naming the setting', () => {
    expect(loadConfig({}).MONGODB_WRITE_CONCURRENCY).toBeUndefined();
    expect(loadConfig({ MONGODB_WRITE_CONCURRENCY: '8' }).MONGODB_WRITE_CONCURRENCY).toBe(8);
    expect(() => loadConfig({ MONGODB_WRITE_CONCURRENCY: '0' })).toThrow(/MONGODB_WRITE_CONCURRENCY: .*1/);
    expect(() => loadConfig({ MONGODB_WRITE_CONCURRENCY: '257' })).toThrow(/MONGODB_WRITE_CONCURRENCY: .*256/);
  });

  it('has the documented security defaults, and reads the allow-lists as comma-separated lowercase values', () => {
    expect(loadConfig({})).toMatchObject({
      GRAPHQL_MAX_SELECTIONS: 100,
      GRAPHQL_MAX_FIELDS: 1000,
      GRAPHQL_MAX_ITEMS: 2000,
      GRAPHQL_MAX_RESPONSE_BYTES: 64 * 1024 * 1024,
      ALLOWED_ORIGINS: [],
      ALLOWED_HOSTS: [],
    });
    const c = loadConfig({
      ALLOWED_ORIGINS: 'https://A.example, http://localhost:3000,',
      ALLOWED_HOSTS: 'Chainlog.internal:8443',
    });
    expect(c.ALLOWED_ORIGINS).toEqual(['https://a.example', 'http://localhost:3000']);
    expect(c.ALLOWED_HOSTS).toEqual(['chainlog.internal:8443']);
  });

  it('names the witness after KEY_NAME unless WITNESS_NAME is set', () => {
    expect(loadConfig({}).witnessName).toBe('chainlog.local/witness');
    expect(loadConfig({ KEY_NAME: 'log.example' }).witnessName).toBe('log.example/witness');
    expect(loadConfig({ WITNESS_NAME: 'witness.example/w1' }).witnessName).toBe('witness.example/w1');
    expect(loadConfig({}).WITNESS_RATE_LIMIT_PER_SEC).toBe(10);
  });

  it('submits to no witness unless WITNESS_POLICY_FILE is set, with bounded requests and backoff', () => {
    const c = loadConfig({});
    expect(c.WITNESS_POLICY_FILE).toBeUndefined();
    expect(c.WITNESS_SUBMIT_TIMEOUT_MS).toBe(10_000);
    expect(c.WITNESS_SUBMIT_MAX_BACKOFF_MS).toBe(60_000);
    expect(c.WITNESS_REFRESH_INTERVAL_MS).toBe(60_000);
    expect(loadConfig({ WITNESS_REFRESH_INTERVAL_MS: '0' }).WITNESS_REFRESH_INTERVAL_MS).toBe(0);
    expect(loadConfig({ WITNESS_REFRESH_INTERVAL_MS: '1000' }).WITNESS_REFRESH_INTERVAL_MS).toBe(1000);
    expect(loadConfig({ WITNESS_POLICY_FILE: '/etc/chainlog/witnesses' }).WITNESS_POLICY_FILE).toBe('/etc/chainlog/witnesses');
  });

  it('waits for a forwarded append as long as its holder keeps saying it works, within bounds', () => {
    expect(loadConfig({})).toMatchObject({ FORWARD_SILENCE_MS: 5_000, FORWARD_TIMEOUT_MS: 60_000 });
    expect(loadConfig({ FORWARD_SILENCE_MS: '100', FORWARD_TIMEOUT_MS: '3600000' })).toMatchObject({
      FORWARD_SILENCE_MS: 100,
      FORWARD_TIMEOUT_MS: 3_600_000,
    });
    expect(() => loadConfig({ FORWARD_SILENCE_MS: '20000', FORWARD_TIMEOUT_MS: '10000' })).toThrow(
      /FORWARD_SILENCE_MS: must be at most FORWARD_TIMEOUT_MS \(10000\)/,
    );
  });

  it('gives an SSE reader that does not read 30 s by default, and refuses a bound outside 100-3600000 ms, naming the setting', () => {
    expect(loadConfig({}).SSE_FLUSH_TIMEOUT_MS).toBe(30_000);
    expect(loadConfig({ SSE_FLUSH_TIMEOUT_MS: '100' }).SSE_FLUSH_TIMEOUT_MS).toBe(100);
    expect(loadConfig({ SSE_FLUSH_TIMEOUT_MS: '3600000' }).SSE_FLUSH_TIMEOUT_MS).toBe(3_600_000);
    expect(() => loadConfig({ SSE_FLUSH_TIMEOUT_MS: '99' })).toThrow(/SSE_FLUSH_TIMEOUT_MS: .*100/);
    expect(() => loadConfig({ SSE_FLUSH_TIMEOUT_MS: '3600001' })).toThrow(/SSE_FLUSH_TIMEOUT_MS: .*3600000/);
  });

  it('gives a WebSocket sender waiting on a client that does not read 30 s by default, and refuses a bound outside 100-3600000 ms, naming the setting', () => {
    expect(loadConfig({}).WS_FLUSH_TIMEOUT_MS).toBe(30_000);
    expect(loadConfig({ WS_FLUSH_TIMEOUT_MS: '100' }).WS_FLUSH_TIMEOUT_MS).toBe(100);
    expect(loadConfig({ WS_FLUSH_TIMEOUT_MS: '3600000' }).WS_FLUSH_TIMEOUT_MS).toBe(3_600_000);
    expect(() => loadConfig({ WS_FLUSH_TIMEOUT_MS: '99' })).toThrow(/WS_FLUSH_TIMEOUT_MS: .*100/);
    expect(() => loadConfig({ WS_FLUSH_TIMEOUT_MS: '3600001' })).toThrow(/WS_FLUSH_TIMEOUT_MS: .*3600000/);
  });

  it('treats empty strings as unset', () => {
    expect(loadConfig({ PORT: '', MONGODB_URI: '' }).PORT).toBe(4000);
  });

  it.each([
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['CHECKPOINT_INTERVAL_MS', '10'],
    ['ORIGIN_PREFIX', 'has space'],
    ['KEY_NAME', 'a+b'],
    ['MONGODB_URI', 'postgres://x'],
    ['LOG_LEVEL', 'loud'],
    ['MAX_PAYLOAD_BYTES', '-1'],
    ['TEST_CLOCK_OFFSET_MS', '1000'], // only with NODE_ENV=test
    ['ALLOWED_ORIGINS', 'evil.example'],
    ['ALLOWED_ORIGINS', 'https://a.example/path'],
    ['GRAPHQL_MAX_ITEMS', '0'],
    ['GRAPHQL_MAX_SELECTIONS', 'many'],
    ['MAX_CONCURRENT_AUDITS', '0'],
    ['WITNESS_NAME', 'my witness'],
    ['WITNESS_NAME', 'a+b'],
    ['WITNESS_RATE_LIMIT_PER_SEC', '-1'],
    ['WITNESS_SUBMIT_TIMEOUT_MS', '0'],
    ['WITNESS_SUBMIT_MAX_BACKOFF_MS', 'soon'],
    ['WITNESS_REFRESH_INTERVAL_MS', '50'],
    ['WITNESS_REFRESH_INTERVAL_MS', '-1'],
    ['WITNESS_REFRESH_INTERVAL_MS', 'hourly'],
    ['FORWARD_SILENCE_MS', '99'],
    ['FORWARD_SILENCE_MS', '600001'],
    ['FORWARD_TIMEOUT_MS', '99'],
    ['FORWARD_TIMEOUT_MS', '3600001'],
    ['SSE_FLUSH_TIMEOUT_MS', '0'],
    ['SSE_FLUSH_TIMEOUT_MS', '1.5'],
    ['SSE_FLUSH_TIMEOUT_MS', 'never'],
    ['WS_FLUSH_TIMEOUT_MS', '0'],
    ['WS_FLUSH_TIMEOUT_MS', '1.5'],
    ['WS_FLUSH_TIMEOUT_MS', 'never'],
  ])('rejects %s=%s with a message naming it', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(new RegExp(`${name}:`));
  });

  it('takes a clock offset only in tests', () => {
    expect(loadConfig({ NODE_ENV: 'test', TEST_CLOCK_OFFSET_MS: '-10000' }).TEST_CLOCK_OFFSET_MS).toBe(-10_000);
    expect(loadConfig({}).TEST_CLOCK_OFFSET_MS).toBe(0);
  });
});

describe('tiles and receipts settings', () => {
  it('default to no public logs, a 32 MiB tile cache and a 10 s receipt wait', () => {
    expect(loadConfig({})).toMatchObject({
      TLOG_PUBLIC_LOGS: [],
      TILE_CACHE_BYTES: 32 * 1024 * 1024,
      RECEIPT_WAIT_TIMEOUT_MS: 10_000,
    });
  });

  it('read TLOG_PUBLIC_LOGS as sourceAppIds or *, and refuse anything else naming the setting', () => {
    expect(loadConfig({ TLOG_PUBLIC_LOGS: 'shop, audit-1 ,' }).TLOG_PUBLIC_LOGS).toEqual(['shop', 'audit-1']);
    expect(loadConfig({ TLOG_PUBLIC_LOGS: '*' }).TLOG_PUBLIC_LOGS).toEqual(['*']);
    expect(() => loadConfig({ TLOG_PUBLIC_LOGS: 'shop,not an app' })).toThrow(
      /TLOG_PUBLIC_LOGS: must be `\*` or a comma-separated list/,
    );
    expect(() => loadConfig({ RECEIPT_WAIT_TIMEOUT_MS: '-1' })).toThrow(ConfigError);
    expect(() => loadConfig({ TILE_CACHE_BYTES: 'lots' })).toThrow(/TILE_CACHE_BYTES/);
  });
});
