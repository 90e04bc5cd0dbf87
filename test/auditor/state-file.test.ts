// The auditor's state file on disk: trust keyed by log (origin and pinned key), every stored note verified
// again at load, and the URL-keyed form of earlier versions migrated only when it authenticates.
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { StateFile, StateFileError, logKey } from '../../src/auditor/state-file.js';
import {
  createSigner,
  createVerifier,
  emptyRoot,
  rawPublicKey,
  signCheckpoint,
  toHex,
  verifierKeyString,
} from '../../src/core/index.js';
import { APP, makeEvents, ORIGIN, TestLog } from './log-fixture.js';

const dir = mkdtempSync(join(tmpdir(), 'chainlog-state-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SIZE = 37;
const log = new TestLog(makeEvents(SIZE));

function key(name = 'test.chainlog') {
  const { privateKey } = generateKeyPairSync('ed25519');
  const pub = rawPublicKey(privateKey);
  return {
    privateKey,
    /** The server-wide name (how older servers signed) and the log's own origin name: the same key. */
    serverWide: createVerifier(name, pub),
    perLog: createVerifier(ORIGIN, pub),
    sign: (size: number, origin = ORIGIN, rootHash = log.root(size), signedAs = origin) =>
      signCheckpoint({ origin, size, rootHash }, createSigner(signedAs, privateKey)),
  };
}
const k = key();

let n = 0;
const path = () => join(dir, `state-${n++}.json`);
const entry = (note: string, size = SIZE) => ({
  treeSize: size,
  rootHash: toHex(log.root(size)),
  note,
  verifiedAt: '2026-01-01T00:00:00.000Z',
  url: 'http://127.0.0.1:4000',
});

/** A saved state trusting `note`, as JSON to edit. */
async function savedState(note = k.sign(SIZE)): Promise<{ file: string; json: { version: number; logs: Record<string, any> } }> {
  const file = path();
  const state = await StateFile.load(file);
  state.set(ORIGIN, k.serverWide, entry(note));
  await state.save();
  return { file, json: JSON.parse(readFileSync(file, 'utf8')) };
}

async function expectRefused(file: string, why: RegExp): Promise<void> {
  const err = await StateFile.load(file, { migrateWith: k.serverWide }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(StateFileError);
  expect((err as Error).message).toContain(file);
  expect((err as Error).message).toMatch(why);
}

describe('trust is keyed by origin and key', () => {
  it('round-trips, found under either name of the pinned key, and not under another origin or key', async () => {
    const { file, json } = await savedState();
    expect(Object.keys(json.logs)).toEqual([verifierKeyString(ORIGIN, k.serverWide.publicKey)]);
    expect(json).toMatchObject({ version: 2 });
    const state = await StateFile.load(file);
    expect(state.migrated).toBe(false);
    expect(state.get(ORIGIN, k.perLog)).toMatchObject({ treeSize: SIZE, url: 'http://127.0.0.1:4000' });
    expect(state.get(ORIGIN, k.serverWide)).toEqual(state.get(ORIGIN, k.perLog));
    expect(state.get('test.chainlog/auth', k.serverWide)).toBeNull();
    expect(state.get(ORIGIN, key().serverWide)).toBeNull();
    expect(logKey(ORIGIN, k.serverWide)).toBe(logKey(ORIGIN, k.perLog));
  });

  it('accepts a stored note signed under the origin as key name and one under the server-wide name', async () => {
    for (const signedAs of [ORIGIN, 'test.chainlog']) {
      const { file } = await savedState(k.sign(SIZE, ORIGIN, log.root(SIZE), signedAs));
      expect((await StateFile.load(file)).get(ORIGIN, k.perLog)?.treeSize).toBe(SIZE);
    }
  });

  it('a missing file is an empty state', async () => {
    expect((await StateFile.load(path())).get(ORIGIN, k.perLog)).toBeNull();
  });
});

describe('an edited state file is refused at load, naming the file', () => {
  const edit = async (change: (e: Record<string, any>) => void) => {
    const { file, json } = await savedState();
    for (const e of Object.values(json.logs)) change(e);
    writeFileSync(file, JSON.stringify(json));
    return file;
  };

  it('a trusted treeSize edited to 0', async () => {
    await expectRefused(await edit((e) => (e.treeSize = 0)), /records size 0 .* signed note says size 37/);
  });
  it('an edited root', async () => {
    await expectRefused(await edit((e) => (e.rootHash = 'ab'.repeat(32))), /records size 37 and root abab/);
  });
  it('a garbage note', async () => {
    await expectRefused(
      await edit((e) => (e.note = 'garbage')),
      /note is not a checkpoint of test.chainlog\/checkout .*malformed note/,
    );
  });
  it('a note of another origin, signed by the same key', async () => {
    await expectRefused(
      await edit((e) => (e.note = k.sign(SIZE, 'test.chainlog/auth', log.root(SIZE), 'test.chainlog'))),
      /origin/,
    );
  });
  it('a note of the same origin signed by another key', async () => {
    await expectRefused(
      await edit((e) => (e.note = key().sign(SIZE))),
      /not a checkpoint of test.chainlog\/checkout signed by the pinned key/,
    );
  });
  it('a smaller checkpoint of the log, with its size and root: refused as a swap of the pinned key', async () => {
    const other = key();
    await expectRefused(
      await edit((e) => {
        e.key = verifierKeyString('test.chainlog', other.serverWide.publicKey);
        e.note = other.sign(SIZE);
      }),
      /pins test.chainlog\+[0-9a-f]{8}\+\S+, another key than its own/,
    );
  });
  it('an entry not keyed by a verifier key', async () => {
    const { file, json } = await savedState();
    json.logs = { [`http://127.0.0.1:4000 ${APP}`]: Object.values(json.logs)[0] };
    writeFileSync(file, JSON.stringify(json));
    await expectRefused(file, /is not keyed by a log's verifier key/);
  });
  it('size 0 only with the root of the empty tree', async () => {
    const zero = k.sign(0, ORIGIN, emptyRoot());
    const file = path();
    const state = await StateFile.load(file);
    state.set(ORIGIN, k.perLog, { ...entry(zero, 0), rootHash: toHex(emptyRoot()) });
    await state.save();
    expect((await StateFile.load(file)).get(ORIGIN, k.perLog)?.treeSize).toBe(0);
    // Even a note the log really signed: size 0 with another root is no empty tree.
    const bogus = log.root(3);
    const json = JSON.parse(readFileSync(file, 'utf8'));
    for (const e of Object.values<Record<string, unknown>>(json.logs)) {
      e.note = k.sign(0, ORIGIN, bogus);
      e.rootHash = toHex(bogus);
    }
    writeFileSync(file, JSON.stringify(json));
    await expectRefused(file, /trusts size 0 with root [0-9a-f]{64}, which is not the root of the empty tree/);
  });
  it('an unknown version or a malformed file', async () => {
    const file = path();
    writeFileSync(file, JSON.stringify({ version: 3, logs: {} }));
    await expectRefused(file, /not a chainlog verify state \(version 2\)/);
    writeFileSync(file, 'not json');
    await expectRefused(file, /is not JSON/);
  });
  it('a file that exists but cannot be read: refused, never taken as an empty state', async () => {
    const file = path();
    mkdirSync(file); // EISDIR
    await expectRefused(file, new RegExp(`^cannot read state file ${file}: .*EISDIR`));
  });
});

describe('the URL-keyed form (version 1)', () => {
  const v1 = (logs: Record<string, unknown>) => {
    const file = path();
    writeFileSync(file, JSON.stringify({ version: 1, logs }));
    return file;
  };
  const { url: _url, ...v1Entry } = entry(k.sign(SIZE, ORIGIN, log.root(SIZE), 'test.chainlog'));

  it('is migrated when every entry is signed by --key: localhost and 127.0.0.1 become one log', async () => {
    const file = v1({ [`http://127.0.0.1:4000 ${APP}`]: v1Entry, [`http://localhost:4000 ${APP}`]: v1Entry });
    const state = await StateFile.load(file, { migrateWith: k.serverWide });
    expect(state.migrated).toBe(true);
    expect(state.get(ORIGIN, k.perLog)).toMatchObject({ treeSize: SIZE, url: 'http://localhost:4000' });
    await state.save();
    const json = JSON.parse(readFileSync(file, 'utf8'));
    expect(json.version).toBe(2);
    expect(Object.keys(json.logs)).toEqual([logKey(ORIGIN, k.perLog)]);
    expect((await StateFile.load(file)).migrated).toBe(false);
  });

  it('is refused when an entry is not signed by --key, is edited, or two entries of one log disagree', async () => {
    await expectRefused(
      v1({ [`http://h:1 ${APP}`]: { ...v1Entry, note: key().sign(SIZE) } }),
      /URL-keyed form .* cannot be authenticated with --key .*move the file away to start over/,
    );
    await expectRefused(v1({ [`http://h:1 ${APP}`]: { ...v1Entry, treeSize: 0 } }), /records size 0/);
    await expectRefused(v1({ [`http://h:1 ${APP}`]: { ...v1Entry, note: 'garbage' } }), /cannot be authenticated/);
    const smaller = { ...v1Entry, treeSize: 30, rootHash: toHex(log.root(30)), note: k.sign(30) };
    await expectRefused(
      v1({ [`http://h:1 ${APP}`]: v1Entry, [`http://h:2 ${APP}`]: smaller }),
      /"http:\/\/h:1 checkout" and "http:\/\/h:2 checkout", trust different checkpoints of the one log test.chainlog\/checkout/,
    );
    await expectRefused(
      v1({ [`http://h:1 ${APP}`]: { ...v1Entry, treeSize: 'many' } }),
      /URL-keyed form \(version 1\) and malformed: /,
    );
    const err = await StateFile.load(v1({ [`http://h:1 ${APP}`]: v1Entry })).catch((e: unknown) => e);
    expect(String(err)).toMatch(/migrated only with the verifier key/);
  });
});
