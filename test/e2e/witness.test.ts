// The C2SP witness (POST /witness/add-checkpoint, c2sp.org/tlog-witness) of a real chainlog process,
// on the e2e suites' engine: every status the protocol names, the race of concurrent submissions, the
// evidence of refused forks, state kept across a restart, and the witnessed-logs file re-read on SIGHUP.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPairSync } from 'node:crypto';
import { loadConfig } from '../../src/config.js';
import { createSigner, signCheckpoint } from '../../src/core/index.js';
import { parseWitnessVerifierKey, verifyCosignatureLine, type CosignatureVerifier } from '../../src/core/witness/index.js';
import { openStorage } from '../../src/storage/open.js';
import { e2eEngineEnv } from '../support/e2e-engine.js';
import { freePort, ServiceProcess } from '../support/service-process.js';
import { addCheckpoint, TestLog } from '../support/witness-log.js';

const ADMIN = 'clk_e2e-admin-key-for-tests-only-0123456789';
const WITNESS_NAME = 'witness.test/w1';

const main = new TestLog('example.com/main');
const race = new TestLog('example.com/race');
const fresh = new TestLog('example.com/fresh');
const added = new TestLog('example.com/added');

let dir: string;
let logsFile: string;
let env: Record<string, string>;
let proc: ServiceProcess;
let witnessKey: CosignatureVerifier;

const policy = (logs: TestLog[]) =>
  `# witnessed by the e2e suite\n${logs.map((l) => `log ${l.vkey} https://${l.origin}/`).join('\n')}\n`;

async function gql(query: string) {
  const res = await fetch(`${proc.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': ADMIN },
    body: JSON.stringify({ query }),
  });
  return (await res.json()) as { data?: any; errors?: unknown };
}

/** The checkpoint body a cosignature covers: the note up to its signatures. */
const bodyOf = (note: string) => note.slice(0, note.lastIndexOf('\n\n') + 1);

async function expectCosigned(log: TestLog, old: number, size: number) {
  const before = Math.floor(Date.now() / 1000);
  const answer = await addCheckpoint(proc.url, log.body(old, size));
  expect(answer, answer.body).toMatchObject({ status: 200 });
  const lines = answer.body.split(/(?<=\n)/);
  expect(lines).toHaveLength(1);
  const cosig = verifyCosignatureLine(lines[0]!, bodyOf(log.note(size)), witnessKey);
  expect(cosig?.name).toBe(WITNESS_NAME);
  expect(cosig!.timestamp).toBeGreaterThanOrEqual(before);
  expect(cosig!.timestamp).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000));
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'chainlog-witness-'));
  logsFile = join(dir, 'witnessed-logs');
  writeFileSync(logsFile, policy([main, race, fresh]));
  env = {
    AUTH: 'on',
    ADMIN_API_KEY: ADMIN,
    WITNESSED_LOGS_FILE: logsFile,
    WITNESS_NAME,
    // The per-origin limit is covered in test/witness/witness-service.test.ts with a clock of its own.
    WITNESS_RATE_LIMIT_PER_SEC: '0',
    ...e2eEngineEnv('witness'),
  };
  proc = new ServiceProcess(await freePort(), join(dir, 'data'), env);
  await proc.start();
  const info = await gql('{ serverInfo { witnessVerifierKey } }');
  witnessKey = parseWitnessVerifierKey(info.data.serverInfo.witnessVerifierKey);
});

afterAll(async () => {
  await proc?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the witness identity', () => {
  it('serves its cosignature/v1 vkey under WITNESS_NAME, from a key generated into DATA_DIR', () => {
    expect(witnessKey.name).toBe(WITNESS_NAME);
    expect(existsSync(join(dir, 'data', 'witness-key.pem'))).toBe(true);
  });
});

describe('POST /witness/add-checkpoint', () => {
  it('422 for a size-0 checkpoint of another root and for a proof with old 0, before the log has state', async () => {
    const bogus = signCheckpoint(
      { origin: fresh.origin, size: 0, rootHash: fresh.tree.root(1) },
      createSigner(fresh.origin, fresh.key),
    );
    const empty = await addCheckpoint(proc.url, `old 0\n\n${bogus}`);
    expect(empty).toMatchObject({ status: 422, body: expect.stringContaining('empty tree') });
    const withProof = await addCheckpoint(proc.url, fresh.body(0, 8, fresh.tree.consistency(4, 8)));
    expect(withProof).toMatchObject({
      status: 422,
      body: expect.stringContaining('old size 0 takes an empty consistency proof'),
    });
    // Neither changed anything: the log's first checkpoint is still taken with old 0.
    await expectCosigned(fresh, 0, 8);
  });

  it("cosigns a log's first checkpoint, then consistent ones, and the same one again", async () => {
    await expectCosigned(main, 0, 10);
    await expectCosigned(main, 10, 20);
    await expectCosigned(main, 20, 20);
  });

  it('409 with the latest size as text/x.tlog.size when old is not it', async () => {
    for (const old of [0, 10, 19]) {
      const answer = await addCheckpoint(proc.url, main.body(old, 30));
      expect(answer).toEqual({ status: 409, contentType: 'text/x.tlog.size', body: '20\n', retryAfter: null });
    }
    // Counted under the route's own label, by status.
    const metrics = await (await fetch(`${proc.url}/metrics`, { headers: { 'x-api-key': ADMIN } })).text();
    expect(metrics).toMatch(/chainlog_http_requests_total\{method="POST",route="\/witness\/add-checkpoint",status="409"\} [1-9]/);
  });

  it('404 for an origin it does not witness', async () => {
    const stranger = new TestLog('example.com/stranger');
    expect(await addCheckpoint(proc.url, stranger.body(0, 5))).toMatchObject({
      status: 404,
      body: expect.stringContaining('unknown log origin "example.com/stranger"'),
    });
  });

  it("403 without a trusted signature, or with a trusted key's failing one", async () => {
    const impostor = new TestLog(main.origin, { key: generateKeyPairSync('ed25519').privateKey });
    expect(await addCheckpoint(proc.url, impostor.body(20, 30, main.tree.consistency(20, 30)))).toMatchObject({
      status: 403,
      body: expect.stringContaining('no verifiable signatures'),
    });
    const body = main.body(20, 30);
    const sigAt = body.lastIndexOf(' ') + 1;
    const sig = Buffer.from(body.slice(sigAt, -1), 'base64');
    sig[10] = sig[10]! ^ 1;
    expect(await addCheckpoint(proc.url, `${body.slice(0, sigAt)}${sig.toString('base64')}\n`)).toMatchObject({
      status: 403,
      body: expect.stringContaining('invalid signature'),
    });
  });

  it("400 for a malformed body, an old size above the checkpoint's, and a malformed note", async () => {
    expect(await addCheckpoint(proc.url, 'hello\n')).toMatchObject({
      status: 400,
      body: expect.stringContaining('"old <size>"'),
    });
    expect(await addCheckpoint(proc.url, main.body(20, 30).replace(/^old 20\n/, 'old 31\n'))).toMatchObject({
      status: 400,
      body: expect.stringContaining('old size 31 is larger'),
    });
    expect(await addCheckpoint(proc.url, `old 20\n\n${main.origin}\n30\nno signatures\n`)).toMatchObject({
      status: 400,
      body: expect.stringContaining('malformed note'),
    });
    expect(await addCheckpoint(proc.url, Uint8Array.of(0x6f, 0x6c, 0x64, 0x20, 0xff, 0x0a))).toMatchObject({
      status: 400,
      body: 'body: must be UTF-8\n',
    });
  });

  it('413 for a body above the limit, read no further', async () => {
    const answer = await addCheckpoint(proc.url, `old 0\n\n${'x'.repeat(70 * 1024)}`);
    expect(answer).toMatchObject({ status: 413, body: expect.stringContaining('at most 65536 bytes') });
  });

  it('422 for a fork (another root at the cosigned size, or a history that does not extend it), and keeps cosigning the true one', async () => {
    const split = main.fork(15);
    const sameSize = await addCheckpoint(proc.url, split.body(20, 20, []));
    expect(sameSize).toMatchObject({ status: 422, body: expect.stringContaining('another root hash') });
    // The fork's proof is right for the fork, and fails from the root the witness cosigned.
    const forked = await addCheckpoint(proc.url, split.body(20, 40));
    expect(forked).toMatchObject({ status: 422, body: expect.stringContaining('does not verify') });
    await expectCosigned(main, 20, 40);
  });

  it('of concurrent submissions with the same old size, exactly one is cosigned; the others get 409 with its size', async () => {
    const sizes = [3, 4, 5, 6, 7, 8, 9, 10];
    const answers = await Promise.all(sizes.map((size) => addCheckpoint(proc.url, race.body(0, size))));
    const won = answers.flatMap((a, i) => (a.status === 200 ? [sizes[i]!] : []));
    expect(won).toHaveLength(1);
    for (const a of answers.filter((x) => x.status !== 200)) expect(a).toMatchObject({ status: 409, body: `${won[0]}\n` });
    // The winner's state is the one kept: the next step goes from it.
    await expectCosigned(race, won[0]!, 20);
  });
});

describe('the witnessed-logs file', () => {
  it('is re-read on SIGHUP; a file that does not parse leaves the list in force and is logged', async () => {
    writeFileSync(logsFile, `log ${added.vkey}\nlog not-a-key\n`);
    proc.signal('SIGHUP');
    await until(() => proc.output().includes('witnessed logs not reloaded'));
    expect(proc.output()).toContain('line 2: log key: malformed verifier key');
    expect((await addCheckpoint(proc.url, added.body(0, 5))).status).toBe(404);
    expect((await addCheckpoint(proc.url, main.body(0, 40))).status).toBe(409);

    writeFileSync(logsFile, policy([main, race, added]));
    proc.signal('SIGHUP');
    await until(async () => (await addCheckpoint(proc.url, added.body(0, 5))).status === 200);
    expect((await addCheckpoint(proc.url, fresh.body(8, 9))).status).toBe(404);
  });
});

describe('the witness state and evidence', () => {
  it('survive a restart: the latest size stays, the refused forks are kept as proven inconsistencies with both notes and the proof', async () => {
    await proc.stop();
    await proc.start();
    expect(await addCheckpoint(proc.url, main.body(0, 50))).toMatchObject({ status: 409, body: '40\n' });
    await proc.stop();

    const { storage } = await openStorage(loadConfig({ DATA_DIR: join(dir, 'data'), LOG_LEVEL: 'silent', ...env }));
    try {
      const records = await storage.inconsistencies!.list({ origin: main.origin, limit: 10 });
      expect(records.map((r) => [r.kind, r.proven, r.detectedBy, r.source]).sort()).toEqual([
        ['inconsistent-prefix', true, 'witness', WITNESS_NAME],
        ['same-size-different-roots', true, 'witness', WITNESS_NAME],
      ]);
      const split = main.fork(15);
      const prefix = JSON.parse(records.find((r) => r.kind === 'inconsistent-prefix')!.evidence) as Record<string, unknown>;
      expect(prefix).toMatchObject({ origin: main.origin, larger: split.note(40) });
      // The cosigned note carries the log's signature and the witness's cosignature of that time.
      const cosignedNote = prefix.smaller as string;
      expect(cosignedNote.startsWith(main.note(20))).toBe(true);
      const cosignedLine = cosignedNote.slice(main.note(20).length);
      expect(verifyCosignatureLine(cosignedLine, bodyOf(main.note(20)), witnessKey)?.name).toBe(WITNESS_NAME);
      expect(prefix.proof).toEqual(split.tree.consistency(20, 40).map((h) => Buffer.from(h).toString('base64')));
      const sameSize = JSON.parse(records.find((r) => r.kind === 'same-size-different-roots')!.evidence) as { notes: string[] };
      expect([...sameSize.notes].sort()).toEqual([cosignedNote, split.note(20)].sort());
      // The proof sent with old size 0 contradicts nothing cosigned: only the size-0 checkpoint is kept.
      expect((await storage.inconsistencies!.list({ origin: fresh.origin, limit: 10 })).map((r) => r.kind)).toEqual([
        'invalid-empty-tree',
      ]);
      expect(await storage.witness!.latest(main.origin)).toMatchObject({
        size: 40,
        note: expect.stringMatching(new RegExp(`^${escape(main.note(40))}\u2014 ${escape(WITNESS_NAME)} `)),
      });
    } finally {
      await storage.close();
    }
    await proc.start();
  });
});

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

async function until(condition: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms:\n${proc.output(4000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
