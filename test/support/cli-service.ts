// The real service as a child process (`node --import tsx src/main.ts`) on a temp DATA_DIR and a free port,
// for end-to-end tests of the CLIs. The verifier key is derived from the key file, never asked of the server.
import { spawn, type ChildProcess } from 'node:child_process';
import { createPrivateKey } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { rawPublicKey, verifierKeyString } from '../../src/core/index.js';

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface CliService {
  url: string;
  port: number;
  dataDir: string;
  dbPath: string;
  /** Derived from DATA_DIR/signing-key.pem and the key name. */
  verifierKey: string;
  stop(): Promise<void>;
}

export interface CliServiceOptions {
  dataDir?: string;
  port?: number;
  originPrefix?: string;
  env?: Record<string, string>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

async function waitHealthy(url: string, child: ChildProcess, output: () => string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`service exited with ${child.exitCode}:\n${output()}`);
    try {
      const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1000) });
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new Error(`service did not become healthy within ${timeoutMs} ms:\n${output()}`);
}

export async function startCliService(options: CliServiceOptions = {}): Promise<CliService> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'chainlog-cli-'));
  const port = options.port ?? (await freePort());
  const originPrefix = options.originPrefix ?? 'e2e.chainlog';
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      DATA_DIR: dataDir,
      ORIGIN_PREFIX: originPrefix,
      KEY_NAME: originPrefix,
      CHECKPOINT_INTERVAL_MS: '200',
      LOG_LEVEL: 'warn',
      // The CLI suites are about the tools, not about keys (test/auth/cli.test.ts is): off unless asked.
      AUTH: 'off',
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const url = `http://127.0.0.1:${port}`;
  await waitHealthy(url, child, () => output, 60_000);
  const pem = readFileSync(join(dataDir, 'signing-key.pem'), 'utf8');
  return {
    url,
    port,
    dataDir,
    dbPath: join(dataDir, 'chainlog.db'),
    verifierKey: verifierKeyString(originPrefix, rawPublicKey(createPrivateKey(pem))),
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
