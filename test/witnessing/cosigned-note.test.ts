// The pure parts of the log's witnessing: adding cosignature lines to a signed note (a key signs a note
// at most once, its newest cosignature replacing an older one in place), and loading the witness policy file.
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createSigner, parseVerifierKey, rawPublicKey, signCheckpoint, verifierKeyString } from '../../src/core/index.js';
import { createCosigner, parsePolicy, verifyWitnessedNote } from '../../src/core/witness/index.js';
import { addSignatureLines } from '../../src/witnessing/cosigned-note.js';
import { addCheckpointUrl, loadWitnessPolicy } from '../../src/witnessing/policy-file.js';

const key = () => generateKeyPairSync('ed25519').privateKey;
const logKey = key();
const origin = 'log.example/shop';
const note = signCheckpoint({ origin, size: 5, rootHash: new Uint8Array(32).fill(7) }, createSigner(origin, logKey));
const body = note.slice(0, note.indexOf('\n\n') + 1);
const w1 = createCosigner('w1.example', key());
const w2 = createCosigner('w2.example', key());
const w1Again = createCosigner('w1.example', key()); // same name, another key

describe('addSignatureLines', () => {
  it('appends the lines of keys the note lacks, after the log signature, each once', () => {
    const a = w1.cosign(body, 100);
    const b = w2.cosign(body, 101);
    const cosigned = addSignatureLines(note, [a, b]);
    expect(cosigned).toBe(`${note}${a}${b}`);
    // A second cosignature by a key already present at the same timestamp adds nothing.
    expect(addSignatureLines(cosigned, [w1.cosign(body, 100)])).toBe(cosigned);
    // The same name with another key is another signer.
    const c = w1Again.cosign(body, 102);
    expect(addSignatureLines(cosigned, [c.slice(0, -1)])).toBe(`${cosigned}${c}`);
    const policy = parsePolicy(`witness A ${w1.verifierKey}\nwitness B ${w2.verifierKey}\ngroup q all A B\nquorum q\n`);
    expect(
      verifyWitnessedNote(cosigned, [parseVerifierKey(verifierKeyString(origin, rawPublicKey(logKey)))], policy).quorum,
    ).toBe(true);
  });

  it("replaces a key's cosignature with its newer one in place, never with an older one, leaving other keys alone", () => {
    const a = w1.cosign(body, 100);
    const b = w2.cosign(body, 101);
    const cosigned = addSignatureLines(note, [a, b]);
    const newer = w1.cosign(body, 200);
    const refreshed = addSignatureLines(cosigned, [newer]);
    // The log's signature stays first, the replaced line keeps its place, one line per key.
    expect(refreshed).toBe(`${note}${newer}${b}`);
    expect(refreshed.startsWith(note)).toBe(true);
    // An older cosignature (a late answer) does not replace the newer one.
    expect(addSignatureLines(refreshed, [a])).toBe(refreshed);
    expect(addSignatureLines(refreshed, [w1.cosign(body, 150)])).toBe(refreshed);
    // Several lines of one key in one call: the newest wins, whatever their order.
    const newest = w2.cosign(body, 300);
    expect(addSignatureLines(cosigned, [newest, w2.cosign(body, 250)])).toBe(`${note}${a}${newest}`);
    // The same name with another key is another signer: added beside, replacing nothing.
    const c = w1Again.cosign(body, 500);
    expect(addSignatureLines(refreshed, [c])).toBe(`${refreshed}${c}`);
    // The log's own signature (no timestamp) is never replaced, even by a line of its key.
    expect(addSignatureLines(refreshed, [note.slice(note.indexOf('\n\n') + 2)])).toBe(refreshed);
    const policy = parsePolicy(`witness A ${w1.verifierKey}\nwitness B ${w2.verifierKey}\ngroup q all A B\nquorum q\n`);
    const opened = verifyWitnessedNote(refreshed, [parseVerifierKey(verifierKeyString(origin, rawPublicKey(logKey)))], policy);
    expect(opened.quorum).toBe(true);
    expect(opened.cosignatures.map((x) => [x.witness, x.timestamp])).toEqual([
      ['A', 200],
      ['B', 101],
    ]);
  });

  it('ignores lines that are not signature lines and refuses a text that is not a signed note', () => {
    expect(addSignatureLines(note, ['not a signature', '\u2014 nameonly', ''])).toBe(note);
    expect(() => addSignatureLines('no signatures\n', [w1.cosign(body, 1)])).toThrow(/not a signed note/);
  });
});

describe('loadWitnessPolicy', () => {
  const dir = mkdtempSync(join(tmpdir(), 'chainlog-policy-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };

  it('reads witnesses, groups and the quorum', () => {
    const policy = loadWitnessPolicy(
      file(
        'ok',
        `# ours\nwitness A ${w1.verifierKey} https://a.example/witness/\nwitness B ${w2.verifierKey} http://b:7380\nquorum A\n`,
      ),
    );
    expect(policy.witnesses.map((w) => [w.name, w.url])).toEqual([
      ['A', 'https://a.example/witness/'],
      ['B', 'http://b:7380'],
    ]);
    expect(addCheckpointUrl(policy.witnesses[0]!.url!)).toBe('https://a.example/witness/add-checkpoint');
    expect(addCheckpointUrl(policy.witnesses[1]!.url!)).toBe('http://b:7380/add-checkpoint');
  });

  it.each([
    ['no quorum line', `witness A ${w1.verifierKey} http://a\n`, /line 1: the policy has no quorum line/],
    ['a witness without URL', `\nwitness A ${w1.verifierKey}\nquorum A\n`, /line 2: witness "A" has no URL/],
    [
      'a URL that is not one',
      `witness A ${w1.verifierKey} nowhere\nquorum A\n`,
      /line 1: witness "A" URL "nowhere" is not a URL/,
    ],
    [
      'a URL of another scheme',
      `witness A ${w1.verifierKey} ftp://a/\nquorum A\n`,
      /line 1: witness "A" URL must be http or https/,
    ],
    ['a bad key', `witness A not-a-key http://a\nquorum A\n`, /line 1: witness key/],
  ])('refuses %s, naming the file and the line', (_name, text, message) => {
    const path = file('bad', text);
    expect(() => loadWitnessPolicy(path)).toThrow(message);
    expect(() => loadWitnessPolicy(path)).toThrow(`WITNESS_POLICY_FILE ${path}: `);
  });

  it('refuses a file it cannot read, naming it', () => {
    expect(() => loadWitnessPolicy(join(dir, 'missing'))).toThrow(/WITNESS_POLICY_FILE .*missing: ENOENT/);
  });
});
