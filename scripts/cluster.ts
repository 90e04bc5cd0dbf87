// `npm run cluster [-- --fork]`: a federation on this machine. A primary logs the simulator's events and
// submits every checkpoint to two witnesses (a 2-of-2 quorum); each witness is also a mirror of the
// primary, so it cosigns only checkpoints whose events it copied and checked itself. Prints every URL
// and verifier key, then the state of each log until Ctrl-C (or for --seconds).
//
// --fork starts a second primary: the same signing key and origins, its own store, the same witness
// policy. It writes a history of its own to the first log and submits its checkpoints to the witnesses,
// which refuse them (422) and record the fork with its evidence; the script fetches the evidence from
// each witness and checks it offline with `npm run verify -- --evidence`.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { listensOn } from '../bench/port-owner.js';
import { freePort, killOnExit, SERVER_NODE_ARGS } from '../bench/server.js';
import { httpGetStatus } from '../bench/http.js';
import { writeFederationFiles } from '../src/witnessing/federation-files.js';
import { intOption, optionsOrExit, parseCliArgs } from '../src/cli/options.js';
import { profilesFor } from '../src/simulator/dictionary.js';
import { repoRoot } from '../bench/engines.js';

const HELP = `Usage: npm run cluster -- [options]

Starts a primary, two servers that mirror it and witness it (a 2-of-2 witness policy) and the
simulator, all on 127.0.0.1 with SQLite stores in a temporary directory; prints every URL and key.

  --apps N        source applications the simulator writes to (default 3)
  --rate N        events per second from the simulator (default 20)
  --seconds N     stop after N seconds (default: run until Ctrl-C)
  --fork          also start a forked primary (same key and origins, its own history) and show both
                  witnesses detecting it, with the evidence checked by npm run verify -- --evidence
  --keep          keep the temporary directory (stores, keys, logs) after stopping
  -h, --help      show this help

Exit status: 0 every log witnessed and mirrored (and, with --fork, the fork proven by both
witnesses); 1 otherwise; 2 usage error or a server that did not start.
`;

const options = optionsOrExit(
  'cluster',
  HELP,
  parseCliArgs(
    {
      schema: z
        .object({
          apps: intOption('apps', 1, 20).default(3),
          rate: intOption('rate', 1, 10_000).default(20),
          seconds: intOption('seconds', 5, 86_400).optional(),
          fork: z.boolean().default(false),
          keep: z.boolean().default(false),
        })
        .strict(),
      booleans: ['fork', 'keep'],
    },
    process.argv.slice(2),
    process.env,
    (v) => v,
  ),
);

const ORIGIN_PREFIX = 'chainlog.cluster';
const READY_TIMEOUT_MS = 60_000;
const base = mkdtempSync(join(tmpdir(), 'chainlog-cluster-'));
const children: ChildProcess[] = [];
const say = (line: string) => process.stdout.write(`${line}\n`);

interface Server {
  name: string;
  url: string;
  adminKey: string;
  child: ChildProcess;
}

async function startServer(name: string, port: number, env: Record<string, string>): Promise<Server> {
  const dataDir = join(base, name);
  mkdirSync(dataDir, { recursive: true });
  const adminKey = randomBytes(24).toString('hex');
  const log = openSync(join(base, `${name}.log`), 'a');
  const child = spawn(process.execPath, [...SERVER_NODE_ARGS], {
    cwd: repoRoot,
    env: {
      ...process.env,
      HOST: '127.0.0.1',
      PORT: String(port),
      DATA_DIR: dataDir,
      ADMIN_API_KEY: adminKey,
      ORIGIN_PREFIX,
      LOG_LEVEL: 'info',
      LOG_FORMAT: 'json',
      CHECKPOINT_INTERVAL_MS: '1000',
      ...env,
    },
    stdio: ['ignore', log, log],
  });
  killOnExit(child);
  children.push(child);
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + READY_TIMEOUT_MS;
  // Ready when the answer is this child's: another process may have taken the port freePort handed out.
  while ((await httpGetStatus(`${url}/healthz`)) !== 200 || !(await listensOn(child.pid!, port))) {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}; see ${join(base, `${name}.log`)}`);
    if (Date.now() > deadline) throw new Error(`${name} was not ready within ${READY_TIMEOUT_MS / 1000} s`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { name, url, adminKey, child };
}

async function gql<T>(server: Server, query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const res = await fetch(`${server.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': server.adminKey },
    body: JSON.stringify({ query, variables }),
    signal: AbortSignal.timeout(10_000),
  });
  const body = (await res.json()) as { data?: T; errors?: Array<{ message: string }> };
  if (!body.data || body.errors?.length) throw new Error(`${server.name}: ${body.errors?.[0]?.message ?? `HTTP ${res.status}`}`);
  return body.data;
}

/** Polls `check` until it returns a value, or fails after `ms` naming `what`. */
async function until<T>(what: string, ms: number, check: () => Promise<T | null>): Promise<T> {
  const deadline = Date.now() + ms;
  let last: Error | null = null;
  for (;;) {
    try {
      const v = await check();
      if (v !== null) return v;
    } catch (err) {
      last = err instanceof Error ? err : new Error(String(err));
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms / 1000} s${last ? ` (${last.message})` : ''}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

interface LogState {
  sourceAppId: string;
  size: number;
  latestCheckpoint: { treeSize: number; witnessed: boolean } | null;
}

async function logStates(server: Server): Promise<LogState[]> {
  const data = await gql<{ logs: { nodes: LogState[] } }>(
    server,
    '{ logs(first: 100) { nodes { sourceAppId size latestCheckpoint { treeSize witnessed } } } }',
  );
  return data.logs.nodes;
}

async function mirrorBehind(server: Server): Promise<number | null> {
  const data = await gql<{ serverInfo: { mirror: { eventsBehind: number } | null } }>(
    server,
    '{ serverInfo { mirror { eventsBehind } } }',
  );
  return data.serverInfo.mirror?.eventsBehind ?? null;
}

async function stopAll(): Promise<void> {
  await Promise.all(
    children.map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.exitCode !== null || c.signalCode !== null) return resolve();
          c.once('exit', () => resolve());
          c.kill('SIGTERM');
        }),
    ),
  );
  if (!options.keep) rmSync(base, { recursive: true, force: true });
}

async function main(): Promise<number> {
  const apps = profilesFor(options.apps).map((p) => p.app);
  const [primaryPort, w1Port, w2Port, forkPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const primaryUrl = `http://127.0.0.1:${primaryPort}`;
  const files = writeFederationFiles({
    dir: join(base, 'keys'),
    originPrefix: ORIGIN_PREFIX,
    sourceAppIds: apps,
    witnesses: [
      { name: 'w1.cluster', url: `http://127.0.0.1:${w1Port}/witness` },
      { name: 'w2.cluster', url: `http://127.0.0.1:${w2Port}/witness` },
    ],
  });
  const logVkeys = files.logVerifierKeys.map((l) => l.verifierKey);
  const witnessVkeys = files.witnesses.map((w) => w.verifierKey);
  const policy = files.policyFile;
  const primaryEnv = {
    SIGNING_KEY_FILE: files.logKeyFile,
    WITNESS_POLICY_FILE: policy,
    WITNESS_SUBMIT_MAX_BACKOFF_MS: '2000',
  };

  say(`chainlog cluster in ${base}`);
  const primary = await startServer('primary', primaryPort, primaryEnv);
  const auditor = await gql<{ createApiKey: { secret: string } }>(
    primary,
    'mutation { createApiKey(role: AUDITOR, name: "cluster mirrors") { secret } }',
  );
  const serverVkey = files.serverVerifierKey;
  const witnesses = await Promise.all(
    [w1Port, w2Port].map((port, i) =>
      startServer(`w${i + 1}`, port, {
        FOLLOW_URL: primaryUrl,
        FOLLOW_VERIFIER_KEY: serverVkey,
        FOLLOW_API_KEY: auditor.createApiKey.secret,
        WITNESSED_LOGS_FILE: files.witnessedLogsFile,
        WITNESS_KEY_FILE: files.witnesses[i]!.keyFile,
        WITNESS_NAME: files.witnesses[i]!.name,
      }),
    ),
  );

  const simulator = spawn(
    join(repoRoot, 'node_modules/.bin/tsx'),
    [
      'scripts/simulate.ts',
      '--url',
      primaryUrl,
      '--apps',
      String(options.apps),
      '--rate',
      String(options.rate),
      '--duration',
      String(options.seconds ?? 86_400),
      '--seed',
      '1',
    ],
    {
      cwd: repoRoot,
      env: { ...process.env, CHAINLOG_API_KEY: primary.adminKey },
      stdio: ['ignore', openSync(join(base, 'simulator.log'), 'a'), openSync(join(base, 'simulator.log'), 'a')],
    },
  );
  killOnExit(simulator);
  children.push(simulator);

  say('');
  say(`primary     ${primary.url}   dashboard ${primary.url}/dashboard/   admin key ${primary.adminKey}`);
  for (const w of witnesses)
    say(`${w.name} (mirror + witness)  ${w.url}   dashboard ${w.url}/dashboard/   admin key ${w.adminKey}`);
  say('');
  say(`server verifier key   ${serverVkey}`);
  apps.forEach((app, i) => say(`log ${app.padEnd(12)} ${logVkeys[i]}`));
  witnessVkeys.forEach((v, i) => say(`witness w${i + 1}           ${v}`));
  say(`witness policy        ${policy}`);
  say('');

  // Every log of the simulator reaches a witnessed checkpoint, and both mirrors have caught up.
  const settled = async (print = true): Promise<boolean> => {
    const logs = await logStates(primary);
    const witnessed = apps.every((app) => logs.find((l) => l.sourceAppId === app)?.latestCheckpoint?.witnessed === true);
    const behind = await Promise.all(witnesses.map(mirrorBehind));
    const line = logs
      .filter((l) => apps.includes(l.sourceAppId))
      .map(
        (l) =>
          `${l.sourceAppId} ${l.size} (checkpoint ${l.latestCheckpoint?.treeSize ?? '-'}${l.latestCheckpoint?.witnessed ? ' witnessed' : ''})`,
      )
      .join(', ');
    if (print) say(`${new Date().toISOString()}  ${line}; mirrors behind: ${behind.join(', ')}`);
    return witnessed && behind.every((b) => b !== null && b < 500);
  };
  let ok = true;
  try {
    await until('every log witnessed and mirrored', 60_000, async () => ((await settled(false)) ? true : null));
    await settled();
    say('every log has a witnessed checkpoint (2 of 2 cosignatures) and both mirrors follow the primary');
  } catch (err) {
    say(String(err));
    ok = false;
  }

  if (options.fork) ok = (await showFork(apps[0]!, logVkeys[0]!, primary, witnesses, forkPort, primaryEnv)) && ok;

  const stopAt = options.seconds === undefined ? Infinity : Date.now() + options.seconds * 1000;
  let stopping = false;
  process.once('SIGINT', () => (stopping = true));
  while (!stopping && Date.now() < stopAt) {
    await new Promise((r) => setTimeout(r, 2000));
    if (!stopping && Date.now() < stopAt) await settled().catch((err: unknown) => say(String(err)));
  }
  return ok ? 0 : 1;
}

/** Starts the forked primary, gives it a longer history of `app` than the witnesses cosigned, and checks what they record. */
async function showFork(
  app: string,
  logVkey: string,
  primary: Server,
  witnesses: Server[],
  port: number,
  primaryEnv: Record<string, string>,
): Promise<boolean> {
  say('');
  say(`--fork: a second primary with the same key and origins, its own store, writing its own history of ${app}`);
  const fork = await startServer('fork', port, primaryEnv);
  const size = (await logStates(primary)).find((l) => l.sourceAppId === app)?.size ?? 0;
  const events = Array.from({ length: size + 50 }, (_, i) => ({
    sourceAppId: app,
    eventType: 'fork.written',
    timestamp: new Date().toISOString(),
    payload: { n: i, note: 'a history the primary never had' },
  }));
  for (let i = 0; i < events.length; i += 500) {
    await gql(fork, 'mutation ($inputs: [LogEventInput!]!) { logEvents(inputs: $inputs) { id } }', {
      inputs: events.slice(i, i + 500),
    });
  }
  say(`fork: ${events.length} events written to ${app}; its checkpoints go to both witnesses`);
  let ok = true;
  for (const w of witnesses) {
    try {
      const record = await until(`${w.name} records the fork`, 60_000, async () => {
        const data = await gql<{ inconsistencies: { nodes: Array<{ kind: string; detectedBy: string; evidence: string }> } }>(
          w,
          '{ inconsistencies(first: 10) { nodes { kind detectedBy evidence } } }',
        );
        return data.inconsistencies.nodes.find((n) => n.kind !== 'UNPROVEN') ?? null;
      });
      const file = join(base, `${w.name}-evidence.json`);
      writeFileSync(file, record.evidence);
      const verify = spawnSync(
        join(repoRoot, 'node_modules/.bin/tsx'),
        ['scripts/verify.ts', '--evidence', file, '--key', logVkey],
        { cwd: repoRoot, encoding: 'utf8' },
      );
      say(`${w.name}: recorded ${record.kind} (detected by ${record.detectedBy}); evidence ${file}`);
      say(`  npm run verify -- --evidence ${file} --key '${logVkey}'  → exit ${verify.status}: ${verify.stdout.trim()}`);
      if (verify.status !== 0) ok = false;
    } catch (err) {
      say(String(err));
      ok = false;
    }
  }
  return ok;
}

let code = 2;
try {
  code = await main();
} catch (err) {
  process.stderr.write(`cluster: ${(err as Error).message}\n`);
} finally {
  await stopAll();
}
process.exit(code);
