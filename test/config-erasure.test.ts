// The settings of leaf version 2 and retention (docs/erasure.md).
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';

describe('LEAF_VERSION and RETENTION_DAYS', () => {
  it('default to leaf version 2 and no retention', () => {
    const c = loadConfig({});
    expect(c.LEAF_VERSION).toBe(2);
    expect(c.RETENTION_DAYS).toBeUndefined();
  });

  it('read 1 or 2, and a JSON object of days per log', () => {
    expect(loadConfig({ LEAF_VERSION: '1' }).LEAF_VERSION).toBe(1);
    expect(loadConfig({ RETENTION_DAYS: '{"*":365,"shop":30}' }).RETENTION_DAYS).toEqual({ '*': 365, shop: 30 });
    expect(loadConfig({ RETENTION_DAYS: ' ' }).RETENTION_DAYS).toBeUndefined();
  });

  it('refuse anything else, naming the setting and the rule', () => {
    for (const v of ['0', '3', '1.5']) expect(() => loadConfig({ LEAF_VERSION: v }), v).toThrow(/LEAF_VERSION: .*1 or 2/);
    expect(() => loadConfig({ LEAF_VERSION: 'two' })).toThrow(/LEAF_VERSION: /);
    for (const [v, rule] of [
      ['[30]', /JSON object/],
      ['{"*":', /JSON object/],
      ['{"shop":0}', /"shop" must be an integer from 1 to 36500/],
      ['{"shop":"30"}', /"shop" must be an integer/],
      ['{"*":1.5}', /"\*" must be an integer/],
    ] as const)
      expect(() => loadConfig({ RETENTION_DAYS: v }), v).toThrow(new RegExp(`RETENTION_DAYS: .*${rule.source}`));
  });
});
