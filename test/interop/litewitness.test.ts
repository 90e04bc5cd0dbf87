// chainlog's checkpoints cosigned by a witness nobody here wrote: `litewitness` from filippo.io/torchwood
// v0.10.0 (Go 1.27, fetched through the module proxy by GOTOOLCHAIN), started as its README says: its
// key in a dedicated ssh-agent, the log registered with `witnessctl add-log` and `add-key`. A chainlog
// server whose witness policy names it submits each checkpoint; the stored note carries litewitness's
// cosignature, which chainlog verified, and a restarted chainlog resumes from litewitness's 409.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseVerifierKey, rawPublicKey, verifierKeyString } from '../../src/core/index.js';
import { parsePolicy, verifyWitnessedNote } from '../../src/core/witness/index.js';
import { metric } from '../support/metrics.js';
import { freePort, ServiceProcess, startOnFreePort } from '../support/service-process.js';
import { until } from '../support/wait.js';

const TORCHWOOD = 'filippo.io/torchwood@v0.10.0';
const TOOLCHAIN = 'go1.27.1';
const ADMIN = 'clk_e2e-admin-key-for-tests-only-0123456789';
const APP = 'interop-litewitness';
const ORIGIN = `chainlog.local/${APP}`;
const WITNESS_NAME = 'litewitness.interop.test/w1';

const goAvailable = spawnSync('go', ['version'], { encoding: 'utf8' }).status === 0;
const sshAvailable = ['ssh-agent', 'ssh-add', 'ssh-keygen'].every(
  (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0,
);
if (!goAvailable || !sshAvailable) {
  console.warn(
    `\n\n*** LITEWITNESS INTEROP TESTS SKIPPED: ${goAvailable ? 'ssh-agent, ssh-add or ssh-keygen' : 'go'} is not on PATH; chainlog is NOT being cosigned by torchwood's litewitness ***\n\n`,
  );
}

function run(cmd: string, args: string[], env: Record<string, string> = {}): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, ...env } });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}:\n${r.stderr}`);
  return r.stdout;
}

describe.skipIf(!goAvailable || !sshAvailable)("chainlog's checkpoints cosigned by torchwood's litewitness", () => {
  let dir = '';
  let agent: ChildProcess | null = null;
  let witness: ChildProcess | null = null;
  let witnessOutput = '';
  let log: ServiceProcess;
  let policy = '';
  const logKey = generateKeyPairSync('ed25519').privateKey;
  const logVkey = verifierKeyString(ORIGIN, rawPublicKey(logKey));

  async function gql(query: string) {
    const res = await fetch(`${log.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': ADMIN },
      body: JSON.stringify({ query }),
    });
    const body = (await res.json()) as { data?: any; errors?: unknown };
    if (body.errors) throw new Error(JSON.stringify(body.errors));
    return body.data;
  }

  async function ingest(count: number) {
    const inputs = Array.from({ length: count }, (_, i) => ({
      sourceAppId: APP,
      eventType: 'interop.entry',
      timestamp: new Date(Date.UTC(2026, 0, 1) + i).toISOString(),
      payload: { i },
    }));
    await fetch(`${log.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': ADMIN },
      body: JSON.stringify({
        query: 'mutation($in: [LogEventInput!]!) { logEvents(inputs: $in) { seq } }',
        variables: { in: inputs },
      }),
    });
  }

  const witnessedAt = (size: number) =>
    until(
      `the checkpoint of size ${size} witnessed by litewitness`,
      async () => {
        const cp = (await gql(`{ checkpoint(sourceAppId: "${APP}") { treeSize note witnessed cosignatures { witness } } }`))
          .checkpoint;
        return cp && cp.treeSize === size && cp.witnessed ? cp : null;
      },
      { timeoutMs: 30_000 },
    );

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'chainlog-lw-'));
    const bin = join(dir, 'bin');
    // Pinned by version; the Go toolchain it needs is fetched through the module proxy.
    run('go', ['install', `${TORCHWOOD.replace('@', '/cmd/litewitness@')}`, `${TORCHWOOD.replace('@', '/cmd/witnessctl@')}`], {
      GOTOOLCHAIN: TOOLCHAIN,
      GOBIN: bin,
    });

    // The witness key in a dedicated ssh-agent, as litewitness's README has it.
    const keyFile = join(dir, 'witness-key');
    run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'litewitness', '-f', keyFile]);
    const fingerprint = /SHA256:\S+/.exec(run('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${keyFile}.pub`]))![0];
    const sock = join(dir, 'agent.sock');
    agent = spawn('ssh-agent', ['-D', '-a', sock], { stdio: 'ignore' });
    await until(
      'ssh-agent listening',
      () => spawnSync('ssh-add', ['-l'], { env: { ...process.env, SSH_AUTH_SOCK: sock } }).status !== 2,
    );
    run('ssh-add', [keyFile], { SSH_AUTH_SOCK: sock });

    const db = join(dir, 'litewitness.db');
    run(join(bin, 'witnessctl'), ['add-log', '-db', db, '-origin', ORIGIN]);
    run(join(bin, 'witnessctl'), ['add-key', '-db', db, '-origin', ORIGIN, '-key', logVkey]);
    const port = await freePort();
    witness = spawn(
      join(bin, 'litewitness'),
      ['-db', db, '-name', WITNESS_NAME, '-key', fingerprint, '-ssh-agent', sock, '-listen', `127.0.0.1:${port}`],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    witness.stdout!.on('data', (c) => (witnessOutput += c));
    witness.stderr!.on('data', (c) => (witnessOutput += c));
    const vkey = (
      await until('litewitness printing its verifier key and listening', () =>
        /vkey=(\S+)/.test(witnessOutput) && /listening/.test(witnessOutput) ? /vkey=(\S+)/.exec(witnessOutput) : null,
      )
    )[1]!;

    const signingKeyFile = join(dir, 'log-key.pem');
    writeFileSync(signingKeyFile, logKey.export({ type: 'pkcs8', format: 'pem' }));
    // litewitness serves add-checkpoint at its root: its submission prefix is the bare URL.
    policy = `witness lw ${vkey} http://127.0.0.1:${port}\nquorum lw\n`;
    const policyFile = join(dir, 'policy');
    writeFileSync(policyFile, policy);
    log = await startOnFreePort(
      (port) =>
        new ServiceProcess(port, join(dir, 'log'), {
          AUTH: 'on',
          ADMIN_API_KEY: ADMIN,
          CHECKPOINT_INTERVAL_MS: '100',
          SIGNING_KEY_FILE: signingKeyFile,
          WITNESS_POLICY_FILE: policyFile,
          WITNESS_SUBMIT_MAX_BACKOFF_MS: '200',
        }),
    );
  }, 900_000);

  afterAll(async () => {
    await log?.stop();
    witness?.kill('SIGTERM');
    agent?.kill('SIGTERM');
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('cosigns each checkpoint, with the consistency proof from the last one it cosigned', async () => {
    await ingest(3);
    const first = await witnessedAt(3);
    await ingest(4);
    const second = await witnessedAt(7);
    for (const cp of [first, second]) {
      expect(cp.cosignatures).toEqual([{ witness: 'lw' }]);
      const opened = verifyWitnessedNote(cp.note, [parseVerifierKey(logVkey)], parsePolicy(policy));
      expect(opened.quorum).toBe(true);
      expect(cp.note).toContain(`\u2014 ${WITNESS_NAME} `);
    }
    // litewitness accepted the log's key name (its origin) without a warning about it.
    expect(witnessOutput).not.toMatch(/does not match origin/);
  });

  it('resumes after a chainlog restart from the size litewitness names in its 409', async () => {
    await log.stop();
    await log.start();
    await ingest(2);
    await witnessedAt(9);
    expect(
      await metric({ url: log.url, authHeaders: () => ({ 'x-api-key': ADMIN }) }, 'chainlog_witness_submissions_total', {
        witness: 'lw',
        outcome: 'conflict',
      }),
    ).toBeGreaterThan(0);
  }, 60_000);
});
