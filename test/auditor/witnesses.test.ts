// --policy and --max-age on a cosigned note, with the clock given: the words of a quorum, the age boundary.
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { checkWitnesses, describeQuorum } from '../../src/auditor/witnesses.js';
import { createCosigner, logVerifiers, parsePolicy } from '../../src/core/index.js';
import { makeEvents, ORIGIN, signingKey, TestLog } from './log-fixture.js';

const log = new TestLog(makeEvents(5));
const key = signingKey();
const note = log.note(key.signer);
const body = note.slice(0, note.indexOf('\n\n') + 1);
const [a, b, c] = ['a.example', 'b.example', 'c.example'].map((n) =>
  createCosigner(n, generateKeyPairSync('ed25519').privateKey),
);
const policy = parsePolicy(
  [
    `witness a ${a!.verifierKey}`,
    `witness b ${b!.verifierKey}`,
    `witness c ${c!.verifierKey}`,
    'group pair any b c',
    'group top all a pair',
    'quorum top',
  ].join('\n'),
);
const T = 1_800_000_000;
const check = (cosigned: string, maxAge: number | null, nowSeconds = T) =>
  checkWitnesses(cosigned, 5, logVerifiers(key.verifier, ORIGIN), policy, maxAge, nowSeconds * 1000);

describe('witnesses', () => {
  it('describes nested groups', () => {
    expect(describeQuorum(policy, 'top')).toBe('2 of [a, pair (1 of [b, c])]');
    expect(describeQuorum(policy, 'a')).toBe('a');
    expect(describeQuorum(parsePolicy('quorum none\n'), 'none')).toBe('no cosignature (quorum none)');
  });

  it('meets the quorum through a nested group, and names what is missing otherwise', () => {
    expect(check(note + a!.cosign(body, T) + c!.cosign(body, T), null)).toMatchObject({ findings: [], report: { met: true } });
    const r = check(note + b!.cosign(body, T), null);
    expect(r.findings).toEqual([
      expect.objectContaining({
        kind: 'NO_QUORUM',
        message: `the checkpoint of size 5 is cosigned by b; the policy's quorum "top" needs 2 of [a, pair (1 of [b, c])]`,
      }),
    ]);
  });

  it('--max-age: the newest cosignature counts; exactly the age passes, a second more fails', () => {
    const cosigned = note + a!.cosign(body, T - 900) + b!.cosign(body, T - 600);
    expect(check(cosigned, 600).findings).toEqual([]);
    expect(check(cosigned, 600, T + 1).findings).toEqual([
      expect.objectContaining({
        kind: 'STALE_CHECKPOINT',
        message: expect.stringContaining(
          '(b) is from 2027-01-15T07:50:00.000Z, 601 s before now (2027-01-15T08:00:01.000Z); --max-age allows 600 s',
        ),
      }),
    ]);
  });
});
