import { expect, it } from 'vitest';
import { parseVerifyArgs } from '../../src/auditor/options.js';

const KEY = 'e2e.chainlog+01020304+AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=';

it('applies defaults and takes the keys from the environment when not given', () => {
  const r = parseVerifyArgs(['--app', 'checkout'], { CHAINLOG_VERIFIER_KEY: KEY, CHAINLOG_API_KEY: 'k' });
  expect(r).toEqual({
    help: false,
    options: {
      url: 'http://127.0.0.1:4000',
      app: 'checkout',
      key: KEY,
      state: '.chainlog-verify-state.json',
      from: 0,
      origin: undefined,
      spotChecks: 3,
      pageSize: 1000,
      apiKey: 'k',
      json: false,
      maxFindings: 1000,
      policy: undefined,
      maxAgeSeconds: undefined,
      keyReadsEveryLog: false,
    },
  });
  expect(parseVerifyArgs(['--app', 'a', '--key', 'x', '--api-key', 'mine'], { CHAINLOG_API_KEY: 'env' })).toMatchObject({
    options: { apiKey: 'mine', key: 'x' },
  });
});

it('takes --key-reads-every-log as a flag without a value', () => {
  expect(parseVerifyArgs(['--app', 'a', '--key', KEY, '--key-reads-every-log'], {})).toMatchObject({
    options: { keyReadsEveryLog: true },
  });
  const r = parseVerifyArgs(['--app', 'a', '--key', KEY, '--key-reads-every-log=yes'], {});
  expect('error' in r && r.error).toMatch(/key-reads-every-log/);
});

it('names what is missing or wrong', () => {
  expect(parseVerifyArgs([], {})).toEqual({
    help: false,
    error: '--app is required\n--key is required (the verifier key you trust)',
  });
  const r = parseVerifyArgs(['--app', 'bad app', '--key', KEY, '--from=-3', '--page-size', '5000'], {});
  expect('error' in r && r.error.split('\n')).toEqual([
    '--app is not a valid sourceAppId',
    '--from must be at least 0',
    '--page-size must be at most 1000',
  ]);
  const findings = parseVerifyArgs(['--app', 'a', '--key', KEY, '--max-findings', '0'], {});
  expect('error' in findings && findings.error).toBe('--max-findings must be at least 1');
  expect(parseVerifyArgs(['-h'], {})).toEqual({ help: true });
});

it('--policy and --max-age: a duration with a unit, and only with a policy', () => {
  const base = ['--app', 'a', '--key', KEY, '--policy', 'p.txt'];
  for (const [text, seconds] of [
    ['90s', 90],
    ['10m', 600],
    ['1h', 3600],
    ['2d', 172_800],
  ] as const) {
    expect(parseVerifyArgs([...base, '--max-age', text], {})).toMatchObject({
      options: { policy: 'p.txt', maxAgeSeconds: seconds },
    });
  }
  for (const bad of ['10', '0s', '1.5h', '-5m', '10 m', 'soon', '']) {
    expect(parseVerifyArgs([...base, `--max-age=${bad}`], {}), bad).toEqual({
      help: false,
      error: '--max-age must be a whole number with a unit s, m, h or d (90s, 10m, 1h)',
    });
  }
  expect(parseVerifyArgs(['--app', 'a', '--key', KEY, '--max-age', '10m'], {})).toEqual({
    help: false,
    error: '--max-age needs --policy (the witnesses whose cosignature times it checks)',
  });
  expect(parseVerifyArgs([...base.slice(0, 4), '--policy', ''], {})).toEqual({
    help: false,
    error: '--policy must not be empty',
  });
});

it('takes a URL of the GraphQL endpoint as the service base URL before it', () => {
  const url = (u: string) => {
    const r = parseVerifyArgs(['--app', 'a', '--key', KEY, '--url', u], {});
    if (!('options' in r) || r.options === undefined) throw new Error(JSON.stringify(r));
    return r.options.url;
  };
  // Left on, the REST pages went to /graphql/v1/..., which the GraphQL server refuses (a CSRF error).
  expect(url('http://host:4000/graphql')).toBe('http://host:4000');
  expect(url('http://host:4000/graphql/')).toBe('http://host:4000');
  expect(url('https://audit.example/chainlog/graphql')).toBe('https://audit.example/chainlog');
  // A base URL is kept as it was given; a segment that only ends in "graphql" is no endpoint.
  expect(url('http://host:4000')).toBe('http://host:4000');
  expect(url('http://host:4000/')).toBe('http://host:4000/');
  expect(url('http://host:4000/mygraphql')).toBe('http://host:4000/mygraphql');
  expect(url('http://host:4000/graphql/v1')).toBe('http://host:4000/graphql/v1');
});
