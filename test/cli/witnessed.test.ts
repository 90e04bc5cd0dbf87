// The auditor CLI with --policy and --max-age, its authenticated state keyed by log, and its UNKNOWN verdict,
// as a child process against the real service behind a real HTTP proxy (checkpoint-proxy.ts). The proxy adds
// cosignatures made with the core's cosigner over the notes the server serves (as witnesses would), serves an
// old checkpoint, or withholds the consistency proof, as a lying server would.
import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditReport } from '../../src/auditor/audit.js';
import {
  createCosigner,
  createSigner,
  fromHex,
  parseVerifierKey,
  rawPublicKey,
  signCheckpoint,
  verifierKeyString,
  type Cosigner,
} from '../../src/core/index.js';
import { startCliService, type CliService } from '../support/cli-service.js';
import { REPO_ROOT } from '../support/service-process.js';
import { append, APP, checkpointAt } from '../tamper/cli-harness.js';
import {
  cosigned,
  forgedCosignature,
  startCheckpointProxy,
  type CheckpointProxy,
  type ServedCheckpoint,
} from './checkpoint-proxy.js';

const work = mkdtempSync(join(tmpdir(), 'chainlog-cli-witnessed-'));
const ORIGIN = `e2e.chainlog/${APP}`;
let service: CliService;
let proxy: CheckpointProxy;
/** The log's size, as appended and checkpointed. */
let size = 0;

const witness = (name: string): Cosigner => createCosigner(name, generateKeyPairSync('ed25519').privateKey);
const [w1, w2, w3] = [witness('w1.example/witness'), witness('w2.example/witness'), witness('w3.example/witness')];
const now = () => Math.floor(Date.now() / 1000);

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function runVerify(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'scripts/verify.ts', '--app', APP, '--spot-checks', '1', ...args],
      { cwd: REPO_ROOT, timeout: 60_000 },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
    );
  });
}

let states = 0;
const newState = () => join(work, `state-${states++}.json`);
/** verify through the proxy (or `url`), with the pinned key and a state file. */
const verify = (state: string, args: string[] = [], url = proxy.url) =>
  runVerify(['--url', url, '--key', service.verifierKey, '--state', state, ...args]);
const verifyJson = async (state: string, args: string[] = [], url?: string) => {
  const run = await verify(state, ['--json', ...args], url);
  return { ...run, report: JSON.parse(run.stdout) as AuditReport };
};

function policyFile(text: string): string {
  const path = join(work, `policy-${states++}.txt`);
  writeFileSync(path, text);
  return path;
}
/** The log's own verifier key (under its origin) pinned by a `log` line, w1 and w2 required, w3 unknown to it. */
let POLICY: string;

async function grow(n: number): Promise<number> {
  await append(service, n);
  size += n;
  await checkpointAt(service, size);
  return size;
}

beforeAll(async () => {
  service = await startCliService();
  proxy = await startCheckpointProxy(service.url);
  const logVkey = verifierKeyString(ORIGIN, parseVerifierKey(service.verifierKey).publicKey);
  POLICY = policyFile(
    [
      '# the log and its witnesses',
      `log ${logVkey} ${service.url}`,
      `witness w1 ${w1.verifierKey} https://w1.example/witness`,
      `witness w2 ${w2.verifierKey}`,
      'group both all w1 w2',
      'quorum both',
      '',
    ].join('\n'),
  );
  await grow(20);
});
afterAll(async () => {
  await proxy?.close();
  await service?.stop();
  if (service) rmSync(service.dataDir, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
});

describe('--policy: the quorum of valid cosignatures', () => {
  it('passes a checkpoint cosigned by the quorum, and shows who cosigned', async () => {
    const t = now();
    proxy.checkpoint = (served) => cosigned(served, [w1, w2, w3], t);
    const state = newState();
    const { code, report, stderr } = await verifyJson(state, ['--policy', POLICY]);
    expect(code, stderr).toBe(0);
    expect(report).toMatchObject({ ok: true, verdict: 'OK', stateUpdated: true });
    expect(report.witnesses).toEqual({
      quorum: 'both',
      needs: '2 of [w1, w2]',
      met: true,
      cosignatures: [
        { witness: 'w1', timestamp: t, time: new Date(t * 1000).toISOString() },
        { witness: 'w2', timestamp: t, time: new Date(t * 1000).toISOString() },
      ],
      newest: new Date(t * 1000).toISOString(),
      maxAgeSeconds: null,
    });
    // The cosigned note is what the state keeps.
    expect(readFileSync(state, 'utf8')).toContain('w2.example/witness');
    const text = await verify(state, ['--policy', POLICY]);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('witnesses    quorum "both" (2 of [w1, w2]) met: cosigned by w1 (');
  });

  it('refuses a checkpoint without its quorum, naming who cosigned and what the quorum needs', async () => {
    proxy.checkpoint = (served) => cosigned(served, [w1, w3], now());
    const state = newState();
    const { code, report } = await verifyJson(state, ['--policy', POLICY]);
    expect(code).toBe(1);
    expect(report).toMatchObject({ ok: false, verdict: 'FAILED', stateUpdated: false, witnesses: { met: false } });
    expect(report.findings).toEqual([
      {
        kind: 'NO_QUORUM',
        seq: null,
        message: `the checkpoint of size ${size} is cosigned by w1; the policy's quorum "both" needs 2 of [w1, w2]`,
      },
    ]);
    // Not cosigned at all: the same, while the audit without --policy passes it.
    proxy.checkpoint = (served) => served;
    const plain = await verify(state, ['--policy', POLICY]);
    expect(plain.code).toBe(1);
    expect(plain.stdout).toContain(`NO_QUORUM: the checkpoint of size ${size} is cosigned by no policy witness`);
    expect(plain.stdout).toContain('nothing trusted yet');
    expect((await verify(state)).code).toBe(0);
  });

  it('a forged cosignature of a policy witness fails the checkpoint, even with the quorum otherwise met', async () => {
    const t = now();
    proxy.checkpoint = (served) => {
      // w2's cosignature of an hour ago, its timestamp moved to now to look fresh.
      const forged = forgedCosignature(served, w2, t - 3600, t);
      return { ...cosigned(served, [w1], t), note: `${cosigned(served, [w1], t).note}${forged}` };
    };
    const { code, report } = await verifyJson(newState(), ['--policy', POLICY, '--max-age', '10m']);
    expect(code).toBe(1);
    expect(report.findings).toEqual([expect.objectContaining({ kind: 'BAD_COSIGNATURE', seq: null })]);
    expect(report.findings[0]!.message).toMatch(/invalid cosignature by w2\.example\/witness/);
    expect(report.witnesses).toBeNull();
  });

  it('a policy that pins another key for the log stops the audit (exit 2) naming both keys', async () => {
    const other = verifierKeyString(ORIGIN, rawPublicKey(generateKeyPairSync('ed25519').privateKey));
    const policy = policyFile(`log ${other}\nwitness w1 ${w1.verifierKey}\nquorum w1\n`);
    const run = await verify(newState(), ['--policy', policy]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`--policy pins the log ${ORIGIN} to ${other}, but --key is ${service.verifierKey}`);
  });

  it('a bad --policy file or --max-age value is a usage error naming the option', async () => {
    const missing = join(work, 'no-such-policy.txt');
    const cases: Array<[string[], RegExp]> = [
      [['--policy', missing], new RegExp(`--policy ${missing}: cannot read the file: .*ENOENT`)],
      [
        ['--policy', policyFile('witness w1 not-a-key\nquorum w1\n')],
        /--policy \S+ is not a valid tlog-policy file: line 1: witness key: /,
      ],
      [
        ['--policy', policyFile(`witness w1 ${w1.verifierKey}\n`)],
        /--policy \S+ is not a valid tlog-policy file: line 1: the policy has no quorum line/,
      ],
      [['--policy', POLICY, '--max-age', '5'], /--max-age must be a whole number with a unit s, m, h or d/],
      [['--max-age', '5m'], /--max-age needs --policy/],
    ];
    for (const [args, message] of cases) {
      const run = await verify(newState(), args);
      expect(run.code, run.stderr).toBe(2);
      expect(run.stderr).toMatch(message);
      expect(run.stderr).toContain('Run with --help for usage.');
      expect(run.stdout).toBe('');
    }
    const help = await runVerify(['--help']);
    expect(help.stdout).toContain('--policy FILE');
    expect(help.stdout).toContain('--max-age AGE');
  });
});

describe('--max-age: a server serving an old checkpoint to hide newer events', () => {
  it('passes unchanged without --max-age, and fails with it, giving both times', async () => {
    const state = newState();
    proxy.checkpoint = (served) => cosigned(served, [w1, w2], now());
    expect((await verify(state, ['--policy', POLICY, '--max-age', '10m'])).code).toBe(0);
    const trusted = size;
    // The server keeps serving that checkpoint, as its witnesses cosigned it 20 minutes ago, while the log grows.
    const old: ServedCheckpoint = { ...(await currentCheckpoint()) };
    const cosignedAt = now() - 1200;
    proxy.checkpoint = () => cosigned(old, [w1, w2], cosignedAt);
    const latest = await grow(5);
    expect(latest).toBeGreaterThan(trusted);

    const blind = await verify(state, ['--policy', POLICY]);
    expect(blind.code, blind.stdout).toBe(0);
    expect(blind.stdout).toContain(`unchanged since the trusted checkpoint of size ${trusted}`);

    const { code, report } = await verifyJson(state, ['--policy', POLICY, '--max-age', '10m']);
    expect(code).toBe(1);
    expect(report).toMatchObject({ verdict: 'FAILED', stateUpdated: false, witnesses: { met: true, maxAgeSeconds: 600 } });
    expect(report.findings).toHaveLength(1);
    expect(report.findings[0]).toMatchObject({ kind: 'STALE_CHECKPOINT', seq: null });
    const msg = report.findings[0]!.message;
    expect(msg).toContain(
      `the newest cosignature of the checkpoint of size ${trusted} by a policy witness (w1) is from ${new Date(cosignedAt * 1000).toISOString()}`,
    );
    expect(msg).toMatch(/, 1[0-9]{3} s before now \(\d{4}-\d\d-\d\dT[0-9:.]+Z\); --max-age allows 600 s/);
    // Within a larger --max-age it passes; served fresh, the newer checkpoint is proved from the trusted one.
    expect((await verify(state, ['--policy', POLICY, '--max-age', '1h'])).code).toBe(0);
    proxy.checkpoint = (served) => cosigned(served, [w1, w2], now());
    const fresh = await verify(state, ['--policy', POLICY, '--max-age', '90s']);
    expect(fresh.code, fresh.stdout).toBe(0);
    expect(fresh.stdout).toContain(`proved from the trusted size ${trusted}`);
  });

  it('a checkpoint no policy witness cosigned is not shown recent', async () => {
    proxy.checkpoint = (served) => cosigned(served, [w3], now());
    const policy = policyFile(`witness w1 ${w1.verifierKey}\nquorum none\n`);
    const { code, report } = await verifyJson(newState(), ['--policy', policy, '--max-age', '1h']);
    expect(code).toBe(1);
    expect(report.findings).toEqual([expect.objectContaining({ kind: 'STALE_CHECKPOINT' })]);
    expect(report.findings[0]!.message).toMatch(
      /has no cosignature by a policy witness, so nothing shows it is recent \(--max-age 3600 s, now /,
    );
    expect((await verify(newState(), ['--policy', policy])).code).toBe(0); // quorum none, no --max-age
  });
});

async function currentCheckpoint(): Promise<ServedCheckpoint> {
  const res = await fetch(`${service.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: `{ checkpoint(sourceAppId: "${APP}") { note treeSize rootHash } }` }),
  });
  return ((await res.json()) as { data: { checkpoint: ServedCheckpoint } }).data.checkpoint;
}

describe('the state file', () => {
  it('keeps trust across localhost and 127.0.0.1 (keyed by origin and key, not by URL)', async () => {
    proxy.checkpoint = (served) => served;
    const state = newState();
    const first = await verifyJson(state, [], service.url);
    expect(first.report).toMatchObject({ ok: true, consistency: 'first-run' });
    const other = await verifyJson(state, [], `http://localhost:${service.port}/`);
    expect(other.code, other.stderr).toBe(0);
    expect(other.report).toMatchObject({ ok: true, consistency: 'unchanged', trusted: { treeSize: size } });
    const json = JSON.parse(readFileSync(state, 'utf8'));
    expect(Object.keys(json.logs)).toEqual([verifierKeyString(ORIGIN, parseVerifierKey(service.verifierKey).publicKey)]);
    expect(Object.values<{ url: string }>(json.logs)[0]!.url).toBe(`http://localhost:${service.port}/`);
  });

  it('an edited state file is refused (exit 2, naming the file) instead of trusted', async () => {
    proxy.checkpoint = (served) => served;
    const state = newState();
    expect((await verify(state)).code).toBe(0);
    const original = readFileSync(state, 'utf8');
    const edits: Array<[(e: Record<string, unknown>) => void, RegExp]> = [
      [(e) => (e.treeSize = 0), new RegExp(`records size 0 and root [0-9a-f]{64}, but its signed note says size ${size}`)],
      [(e) => (e.note = 'garbage'), /its note is not a checkpoint of e2e.chainlog\/shop signed by the pinned key/],
    ];
    for (const [edit, why] of edits) {
      const json = JSON.parse(original);
      for (const e of Object.values<Record<string, unknown>>(json.logs)) edit(e);
      writeFileSync(state, JSON.stringify(json));
      const run = await verify(state, ['--json']);
      expect(run.code).toBe(2);
      expect(run.stderr).toContain(`state file ${state} is refused`);
      expect(run.stderr).toMatch(why);
      expect(JSON.parse(run.stdout)).toMatchObject({ ok: false, verdict: 'UNKNOWN' });
    }
  });

  it('a state file of the URL-keyed form is migrated when its checkpoints verify under --key', async () => {
    const cp = await currentCheckpoint();
    const state = newState();
    const entry = { treeSize: cp.treeSize, rootHash: cp.rootHash, note: cp.note, verifiedAt: new Date().toISOString() };
    writeFileSync(state, JSON.stringify({ version: 1, logs: { [`${service.url} ${APP}`]: entry } }));
    const run = await verifyJson(state, [], service.url);
    expect(run.code, run.stderr).toBe(0);
    expect(run.report).toMatchObject({ consistency: 'unchanged', trusted: { treeSize: cp.treeSize } });
    expect(run.stderr).toContain(`state file ${state} rewritten from the URL-keyed form (version 1), keyed by log`);
    expect(JSON.parse(readFileSync(state, 'utf8'))).toMatchObject({ version: 2 });
    // One signed by another key is refused with what to do.
    const { privateKey } = generateKeyPairSync('ed25519');
    const foreign = signCheckpoint({ origin: ORIGIN, size: 1, rootHash: fromHex(cp.rootHash) }, createSigner(ORIGIN, privateKey));
    writeFileSync(
      state,
      JSON.stringify({ version: 1, logs: { [`${service.url} ${APP}`]: { ...entry, treeSize: 1, note: foreign } } }),
    );
    const refused = await verify(state, [], service.url);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/URL-keyed form .*cannot be authenticated with --key .*move the file away to start over/);
  });
});

describe('a withheld consistency proof', () => {
  it('gives the verdict UNKNOWN and why (exit 2), whether refused or cut off', async () => {
    proxy.checkpoint = (served) => served;
    const state = newState();
    expect((await verify(state)).code).toBe(0);
    const trusted = size;
    const before = readFileSync(state, 'utf8');
    const latest = await grow(3);
    for (const how of ['RATE_LIMITED', 'INTERNAL_SERVER_ERROR', 'drop']) {
      proxy.withholdConsistency = how;
      const asked = proxy.consistencyRequests;
      const { code, report } = await verifyJson(state);
      expect(proxy.consistencyRequests).toBe(asked + 1);
      expect(code, how).toBe(2);
      expect(report, how).toMatchObject({
        ok: false,
        verdict: 'UNKNOWN',
        consistency: 'unknown',
        findings: [],
        stateUpdated: false,
        checkpoint: { treeSize: latest },
        trusted: { treeSize: trusted },
      });
      expect(report.unknown).toContain(
        `the server did not give the consistency proof from the trusted size ${trusted} to ${latest}`,
      );
      expect(report.unknown).toMatch(how === 'drop' ? /cannot reach/ : new RegExp(`\\[${how}\\]`));
    }
    const text = await verify(state);
    expect(text.code).toBe(2);
    expect(text.stdout).toMatch(
      /^verify UNKNOWN {2}shop @ \S+: neither verified nor proven wrong\n {2}why: the server did not give/,
    );
    expect(text.stdout).toContain(`state not updated: still trusting size ${trusted}`);
    expect(readFileSync(state, 'utf8')).toBe(before);
    proxy.withholdConsistency = null;
    const answered = await verify(state);
    expect(answered.code, answered.stdout).toBe(0);
    expect(answered.stdout).toContain(`proved from the trusted size ${trusted}`);
  });
});
