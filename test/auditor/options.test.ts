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
    },
  });
  expect(parseVerifyArgs(['--app', 'a', '--key', 'x', '--api-key', 'mine'], { CHAINLOG_API_KEY: 'env' })).toMatchObject({
    options: { apiKey: 'mine', key: 'x' },
  });
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
  expect(parseVerifyArgs(['-h'], {})).toEqual({ help: true });
});
