// The pure witness parts: cosignature/v1, witness vkeys, add-checkpoint bodies (with the example of
// c2sp.org/tlog-witness), tlog-policy files and the add-checkpoint decision on a real tree. The same
// cosignatures are compared with torchwood's and verified by transparency-dev/formats in
// test/interop/witness.test.ts.
import { createHash, generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  createSigner,
  emptyRoot,
  formatCheckpoint,
  openNote,
  parseVerifierKey,
  rawPublicKey,
  signCheckpoint,
  toHex,
  verifierKeyString,
} from '../../src/core/index.js';
import {
  createCosigner,
  createCosignatureVerifier,
  cosignatureKeyId,
  cosignatureMessage,
  decideAddCheckpoint,
  formatAddCheckpointBody,
  logVerifiersByOrigin,
  MAX_PROOF_LINES,
  noteOrigin,
  parseAddCheckpointBody,
  parsePolicy,
  parseWitnessVerifierKey,
  verifyCosignatureLine,
  witnessVerifierKeyString,
} from '../../src/core/witness/index.js';
import { NaiveTree, testLeaves } from './naive-tree.js';
import { privateKeyFromSeed } from './note-keys.js';

const SEED = Buffer.from('4f2a8c1e9b3d7f6a5c0e2b4d8f1a3c5e7b9d0f2a4c6e8b1d3f5a7c9e0b2d4f6a', 'hex');
const witnessKey = privateKeyFromSeed(SEED);
const witnessPub = rawPublicKey(witnessKey);
const BODY = 'example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n';

describe('witness verifier keys (signature type 0x04)', () => {
  it('key id is SHA-256(name || "\\n" || 0x04 || key)[:4], computed independently here', () => {
    const expected = createHash('sha256')
      .update(Buffer.concat([Buffer.from('witness.example/w1\n'), Buffer.from([4]), witnessPub]))
      .digest()
      .subarray(0, 4);
    expect(toHex(cosignatureKeyId('witness.example/w1', witnessPub))).toBe(expected.toString('hex'));
    const vkey = witnessVerifierKeyString('witness.example/w1', witnessPub);
    expect(vkey).toBe(
      `witness.example/w1+${expected.toString('hex')}+${Buffer.concat([Buffer.from([4]), witnessPub]).toString('base64')}`,
    );
    // The same public key as a plain note key (type 0x01) has another key id.
    expect(verifierKeyString('witness.example/w1', witnessPub).split('+')[1]).not.toBe(expected.toString('hex'));
  });

  it('parses its own vkey and refuses others', () => {
    const vkey = witnessVerifierKeyString('w', witnessPub);
    expect(parseWitnessVerifierKey(vkey).keyId).toEqual(cosignatureKeyId('w', witnessPub));
    expect(() => parseWitnessVerifierKey(verifierKeyString('w', witnessPub))).toThrow(/signature type 1, want 4/);
    const [name, id, key] = vkey.split('+') as [string, string, string];
    expect(() => parseWitnessVerifierKey(`${name}+${id === '00000000' ? '00000001' : '00000000'}+${key}`)).toThrow(
      /key id does not match/,
    );
    expect(() => parseWitnessVerifierKey(`${name}+${id}`)).toThrow(/malformed/);
    expect(() => parseWitnessVerifierKey(`a b+${id}+${key}`)).toThrow(/invalid key name/);
    // A key id that is not 8 lowercase hex digits, a key that is not base64, one byte short.
    expect(() => parseWitnessVerifierKey(`${name}+${id.toUpperCase()}1+${key}`)).toThrow(/^malformed witness verifier key$/);
    expect(() => parseWitnessVerifierKey(`${name}+${id}+not base64!`)).toThrow(/^malformed witness verifier key$/);
    const short = Buffer.from(key, 'base64').subarray(0, 32).toString('base64');
    expect(() => parseWitnessVerifierKey(`${name}+${id}+${short}`)).toThrow(/wrong key length/);
  });
});

describe('cosignature/v1', () => {
  it('signs "cosignature/v1\\ntime <ts>\\n" || body as keyid || u64 BE timestamp || Ed25519', () => {
    expect(Buffer.from(cosignatureMessage(BODY, 1679315147)).toString()).toBe(`cosignature/v1\ntime 1679315147\n${BODY}`);
    const cosigner = createCosigner('witness.example/w1', witnessKey);
    const line = cosigner.cosign(BODY, 1679315147);
    expect(line).toMatch(/^\u2014 witness\.example\/w1 [A-Za-z0-9+/]+=*\n$/);
    const blob = Buffer.from(line.split(' ')[2]!.trim(), 'base64');
    expect(blob.length).toBe(4 + 8 + 64);
    expect(blob.subarray(0, 4)).toEqual(Buffer.from(cosigner.keyId));
    expect(blob.readBigUInt64BE(4)).toBe(1679315147n);
    // Ed25519 is deterministic: the same body and time give the same line.
    expect(cosigner.cosign(BODY, 1679315147)).toBe(line);
  });

  it('verifies by line and inside a cosigned note next to the log signature', () => {
    const cosigner = createCosigner('witness.example/w1', witnessKey);
    const verifier = parseWitnessVerifierKey(cosigner.verifierKey);
    const line = cosigner.cosign(BODY, 1700000000);
    expect(verifyCosignatureLine(line, BODY, verifier)).toMatchObject({ name: 'witness.example/w1', timestamp: 1700000000 });
    expect(() => verifyCosignatureLine(line, BODY.replace('20852163', '20852164'), verifier)).toThrow(/invalid cosignature/);
    // Another witness's line is not this verifier's business.
    const other = createCosigner('witness.example/w2', generateKeyPairSync('ed25519').privateKey);
    expect(verifyCosignatureLine(other.cosign(BODY, 1), BODY, verifier)).toBeNull();
    // A timestamp changed in the blob breaks the signature.
    const blob = Buffer.from(line.trim().split(' ')[2]!, 'base64');
    blob.writeBigUInt64BE(1700000001n, 4);
    expect(() => verifyCosignatureLine(`\u2014 witness.example/w1 ${blob.toString('base64')}\n`, BODY, verifier)).toThrow(
      /invalid cosignature/,
    );

    const logKey = generateKeyPairSync('ed25519').privateKey;
    const logSigner = createSigner('example.com/behind-the-sofa', logKey);
    const logNote = signCheckpoint(
      {
        origin: 'example.com/behind-the-sofa',
        size: 20852163,
        rootHash: Buffer.from('CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=', 'base64'),
      },
      logSigner,
    );
    const opened = openNote(logNote + cosigner.cosign(BODY, 1700000000), [
      logVerifierOf(logSigner.name, rawPublicKey(logKey)),
      verifier,
    ]);
    expect(opened.signatures.map((s) => s.name)).toEqual(['example.com/behind-the-sofa', 'witness.example/w1']);
    // A cosignature does not verify as a plain note signature of the same key (another key id).
    expect(() => openNote(BODY + '\n' + line, [logVerifierOf('witness.example/w1', witnessPub)])).toThrow(
      /no verifiable signatures/,
    );
  });

  it("refuses a line that is not a signature line, a malformed one, and one of the verifier's key of the wrong length", () => {
    const cosigner = createCosigner('witness.example/w1', witnessKey);
    const verifier = parseWitnessVerifierKey(cosigner.verifierKey);
    const line = cosigner.cosign(BODY, 1700000000);
    const blob = Buffer.from(line.trim().split(' ')[2]!, 'base64');
    const as = (b: Buffer) => `\u2014 witness.example/w1 ${b.toString('base64')}\n`;
    expect(() => verifyCosignatureLine('- witness.example/w1 AAAA\n', BODY, verifier)).toThrow(/not a note signature line/);
    expect(() => verifyCosignatureLine('\u2014 witness.example/w1\n', BODY, verifier)).toThrow(/malformed note signature line/);
    expect(() => verifyCosignatureLine('\u2014 witness.example/w1 !!!!\n', BODY, verifier)).toThrow(
      /malformed note signature line/,
    );
    expect(() => verifyCosignatureLine(as(blob.subarray(0, 4)), BODY, verifier)).toThrow(/malformed note signature line/);
    // The verifier's name and key id, but a timestamp and signature of the wrong length.
    expect(() => verifyCosignatureLine(as(blob.subarray(0, 75)), BODY, verifier)).toThrow(/cosignature has the wrong length/);
    expect(() => verifyCosignatureLine(as(Buffer.concat([blob, Buffer.from([0])])), BODY, verifier)).toThrow(
      /cosignature has the wrong length/,
    );
  });

  it('refuses a zero timestamp, which the witness protocol forbids', () => {
    expect(() => createCosigner('w', witnessKey).cosign(BODY, 0)).toThrow(/non-zero timestamp/);
    expect(() => cosignatureMessage(BODY, -1)).toThrow(/timestamp/);
    expect(() => cosignatureMessage('no newline', 1)).toThrow(/newline/);
  });

  it('verifier rejects signatures of the wrong length', () => {
    const verifier = createCosignatureVerifier('w', witnessPub);
    expect(verifier.verify(Buffer.from(BODY), new Uint8Array(64))).toBe(false);
    expect(verifier.timestampOf(new Uint8Array(71))).toBeNull();
  });
});

function logVerifierOf(name: string, pub: Uint8Array) {
  return parseVerifierKey(verifierKeyString(name, pub));
}

// The example request body of c2sp.org/tlog-witness, verbatim.
const SPEC_EXAMPLE = `old 20852014
PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=
jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=
5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=
/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=

example.com/behind-the-sofa
20852163
CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=

— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=
— example.com/behind-the-sofa opLqBQsREYCgu6xQkYQwJr9fo45a62DN9EdmHXnZdXNqlcVGlCum2Wks+49/V6267UEjw6QUXTS5Rovnzv++qbSzm9Q=
`;

describe('add-checkpoint bodies', () => {
  it('parses the example of the spec and formats it back byte for byte', () => {
    const req = parseAddCheckpointBody(SPEC_EXAMPLE);
    expect(req.oldSize).toBe(20852014);
    expect(req.proof).toHaveLength(4);
    expect(Buffer.from(req.proof[0]!).toString('base64')).toBe('PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=');
    expect(req.note.startsWith('example.com/behind-the-sofa\n20852163\n')).toBe(true);
    expect(noteOrigin(req.note)).toBe('example.com/behind-the-sofa');
    expect(formatAddCheckpointBody(req)).toBe(SPEC_EXAMPLE);
    expect(parseAddCheckpointBody('old 0\n\nx\n1\nAA==\n')).toMatchObject({ oldSize: 0, proof: [] });
  });

  it.each([
    ['no old line', 'new 1\n\nnote\n', /first line must be "old <size>"/],
    ['leading zero', 'old 01\n\nnote\n', /without leading zeroes/],
    ['negative', 'old -1\n\nnote\n', /first line/],
    ['two spaces', 'old  1\n\nnote\n', /first line/],
    ['too large', `old ${'9'.repeat(20)}\n\nnote\n`, /too large/],
    ['no newline at all', 'old 1', /newline/],
    ['no empty line', 'old 1\nPlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n', /newline/],
    ['a proof line that is not base64', 'old 1\nnot base64!\n\nnote\n', /proof line 1 is not a base64 32-byte hash/],
    ['a proof hash of 31 bytes', `old 1\n${Buffer.alloc(31).toString('base64')}\n\nnote\n`, /proof line 1/],
    ['no checkpoint', 'old 1\n\n', /checkpoint is missing/],
    [
      '64 proof lines',
      `old 1\n${`${Buffer.alloc(32).toString('base64')}\n`.repeat(MAX_PROOF_LINES + 1)}\nnote\n`,
      /more than 63/,
    ],
  ])('refuses %s', (_name, body, message) => {
    expect(() => parseAddCheckpointBody(body)).toThrow(message);
  });

  it('accepts exactly 63 proof lines', () => {
    expect(
      parseAddCheckpointBody(`old 1\n${`${Buffer.alloc(32).toString('base64')}\n`.repeat(MAX_PROOF_LINES)}\nnote\n`).proof,
    ).toHaveLength(63);
  });
});

describe('tlog-policy', () => {
  const logA = verifierKeyString('example.com/log-a', rawPublicKey(generateKeyPairSync('ed25519').privateKey));
  const logA2 = verifierKeyString('example.com/log-a', rawPublicKey(generateKeyPairSync('ed25519').privateKey));
  const w = [1, 2, 3].map((i) =>
    witnessVerifierKeyString(`witness.example/w${i}`, rawPublicKey(generateKeyPairSync('ed25519').privateKey)),
  );

  it('reads logs, witnesses, groups and the quorum, with comments, tabs and blank lines', () => {
    const policy = parsePolicy(
      `# logs\n  log ${logA} https://log.example/\nlog\t${logA2}\n\n` +
        `witness X1 ${w[0]} https://w1.example/\nwitness X2 ${w[1]}\nwitness X3 ${w[2]}\n` +
        `group X 2 X1 X2 X3\ngroup Y any X1\ngroup Z all X Y\nquorum Z\n`,
      { requireQuorum: true },
    );
    expect(policy.logs.map((l) => [l.origin, l.url])).toEqual([
      ['example.com/log-a', 'https://log.example/'],
      ['example.com/log-a', null],
    ]);
    expect(policy.witnesses.map((x) => x.name)).toEqual(['X1', 'X2', 'X3']);
    expect(policy.groups).toEqual([
      { name: 'X', threshold: 2, members: ['X1', 'X2', 'X3'] },
      { name: 'Y', threshold: 1, members: ['X1'] },
      { name: 'Z', threshold: 2, members: ['X', 'Y'] },
    ]);
    expect(policy.quorum).toBe('Z');
    expect(logVerifiersByOrigin(policy).get('example.com/log-a')).toHaveLength(2);
    expect(parsePolicy('quorum none\n').quorum).toBe('none');
  });

  it.each([
    ['an unknown keyword', 'logs x\n', /line 1: unknown keyword "logs"/],
    ['a bad log key', 'log nonsense\n', /line 1: log key: malformed/],
    ['a witness key as log key', `log ${w[0]}\n`, /line 1: log key: unknown verifier algorithm 4/],
    ['a log key as witness key', `witness A ${logA}\n`, /line 1: witness key: .*signature type 1/],
    ['a duplicate log', `log ${logA}\nlog ${logA}\n`, /line 2: duplicate log key/],
    ['a duplicate witness key', `witness A ${w[0]}\nwitness B ${w[0]}\n`, /line 2: duplicate witness key/],
    ['a name defined twice', `witness A ${w[0]}\nwitness A ${w[1]}\n`, /line 2: name "A" is defined twice/],
    ['a group with an undefined member', `witness A ${w[0]}\ngroup G any A B\n`, /line 2: group member "B"/],
    ['a group threshold above its size', `witness A ${w[0]}\ngroup G 2 A\n`, /line 2: group threshold "2"/],
    ['a group listing a member twice', `witness A ${w[0]}\ngroup G any A A\n`, /line 2: .*at most once/],
    ['none as a member', `witness A ${w[0]}\ngroup G any none\n`, /group member "none"/],
    ['a quorum of an undefined name', 'quorum X\n', /line 1: quorum "X"/],
    ['two quorums', 'quorum none\nquorum none\n', /line 2: a policy has exactly one quorum line/],
    ['a control character', `log ${logA}\r\n`, /line 1: control character/],
    ['extra fields', `log ${logA} https://a/ extra\n`, /line 1: want "log <vkey> \[<url>\]"/],
    ['a witness line without its key', 'witness A\n', /line 1: want "witness <name> <vkey> \[<url>\]"/],
    [
      'a group line without members',
      `witness A ${w[0]}\ngroup G any\n`,
      /line 2: want "group <name> <k\|any\|all> <member>\.\.\."/,
    ],
    ['a quorum line naming two', `witness A ${w[0]}\nquorum A A\n`, /line 2: want "quorum <name>"/],
    ['a witness named none', `witness none ${w[0]}\n`, /line 1: the name "none" is predefined/],
    ['a group threshold that is not a number', `witness A ${w[0]}\ngroup G 01 A\n`, /line 2: group threshold "01"/],
  ])('refuses %s', (_name, text, message) => {
    expect(() => parsePolicy(text)).toThrow(message);
  });

  it('takes one key for several logs, each under its origin as key name (as chainlog signs its logs)', () => {
    const key = rawPublicKey(generateKeyPairSync('ed25519').privateKey);
    const shop = verifierKeyString('chainlog.local/shop', key);
    const bank = verifierKeyString('chainlog.local/bank', key);
    expect(parsePolicy(`log ${shop}\nlog ${bank}\n`).logs.map((l) => l.origin)).toEqual([
      'chainlog.local/shop',
      'chainlog.local/bank',
    ]);
    expect(() => parsePolicy(`log ${shop}\nlog ${bank}\nlog ${shop}\n`)).toThrow(/line 3: duplicate log key/);
  });

  it('refuses a policy without quorum only when one is required', () => {
    expect(parsePolicy(`log ${logA}\n`).quorum).toBeNull();
    expect(() => parsePolicy(`log ${logA}\n`, { requireQuorum: true })).toThrow(/no quorum line/);
  });
});

describe('the add-checkpoint decision', () => {
  const origin = 'example.com/log';
  const tree = new NaiveTree(testLeaves(40));
  const fork = new NaiveTree([...testLeaves(10), ...testLeaves(30, 1000)]);
  const cp = (size: number, t = tree) => ({ origin, size, rootHash: t.root(size) });
  const state = (size: number, t = tree) => ({ origin, size, rootHash: t.root(size), note: formatCheckpoint(cp(size, t)) });

  it('cosigns the first checkpoint of a log with old 0 and no proof, and refuses a proof with it', () => {
    expect(decideAddCheckpoint(null, { oldSize: 0, proof: [] }, cp(20))).toEqual({ kind: 'cosign' });
    expect(decideAddCheckpoint(null, { oldSize: 0, proof: tree.consistency(10, 20) }, cp(20))).toMatchObject({
      kind: 'inconsistent',
      reason: 'proof-not-empty',
    });
  });

  it('cosigns a checkpoint consistent with the stored one, and the same one again', () => {
    expect(decideAddCheckpoint(state(20), { oldSize: 20, proof: tree.consistency(20, 33) }, cp(33))).toEqual({ kind: 'cosign' });
    expect(decideAddCheckpoint(state(20), { oldSize: 20, proof: [] }, cp(20))).toEqual({ kind: 'cosign' });
  });

  it('400 when old is larger than the size, before anything else', () => {
    expect(decideAddCheckpoint(state(20), { oldSize: 21, proof: [] }, cp(20))).toMatchObject({ kind: 'bad-request' });
  });

  it('409 with the latest size when old is not it', () => {
    expect(decideAddCheckpoint(state(20), { oldSize: 10, proof: tree.consistency(10, 30) }, cp(30))).toEqual({
      kind: 'conflict',
      size: 20,
    });
    expect(decideAddCheckpoint(null, { oldSize: 10, proof: tree.consistency(10, 30) }, cp(30))).toEqual({
      kind: 'conflict',
      size: 0,
    });
    expect(decideAddCheckpoint(state(20), { oldSize: 0, proof: [] }, cp(30))).toEqual({ kind: 'conflict', size: 20 });
  });

  it('422 for a size-0 checkpoint whose root is not the empty tree', () => {
    expect(decideAddCheckpoint(null, { oldSize: 0, proof: [] }, { origin, size: 0, rootHash: tree.root(1) })).toMatchObject({
      kind: 'inconsistent',
      reason: 'empty-tree-root',
    });
    expect(decideAddCheckpoint(null, { oldSize: 0, proof: [] }, { origin, size: 0, rootHash: emptyRoot() })).toEqual({
      kind: 'cosign',
    });
  });

  it('422 for a fork: another root at the same size, or a proof that fails', () => {
    expect(decideAddCheckpoint(state(20), { oldSize: 20, proof: [] }, cp(20, fork))).toMatchObject({
      kind: 'inconsistent',
      reason: 'same-size-root',
    });
    // The fork's own proof is right for its tree, but not from the root the witness cosigned.
    expect(decideAddCheckpoint(state(20), { oldSize: 20, proof: fork.consistency(20, 30) }, cp(30, fork))).toMatchObject({
      kind: 'inconsistent',
      reason: 'proof',
    });
    expect(decideAddCheckpoint(state(20), { oldSize: 20, proof: tree.consistency(20, 30).slice(1) }, cp(30))).toMatchObject({
      kind: 'inconsistent',
      reason: 'proof',
    });
    expect(decideAddCheckpoint(state(20), { oldSize: 20, proof: [tree.root(1)] }, cp(20))).toMatchObject({
      kind: 'inconsistent',
      reason: 'proof',
    });
  });
});
