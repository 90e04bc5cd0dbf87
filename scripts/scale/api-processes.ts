// The chainlog API processes of the scale harness (`npm run scale`, `npm run scale:hot-log`): each the
// built service as `npm start` runs it, on its own loopback port and temporary DATA_DIR, with the
// database and signing key that `env` names; killed if the script exits or is interrupted first.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { repoRoot } from '../../bench/engines.js';
import { httpGetStatus } from '../../bench/http.js';
import { freePort, killOnExit, SERVER_NODE_ARGS } from '../../bench/server.js';

export interface ApiProcess {
  /** Its place in the group, from 0 (P0, P1, … in output). */
  index: number;
  url: string;
  child: ChildProcess;
  dataDir: string;
}

export interface ApiProcessOptions {
  /** Each line of a process's stderr is written to ours after `[P<index>] `; otherwise it is ours as is. */
  labelStderr?: boolean;
  /**
   * Each process advertises its loopback URL (ADVERTISE_URL) with this PROCESS_SECRET, so appends to a
   * log another process holds are handed to it; without it, every process appends itself.
   */
  processSecret?: string;
}

/** `--mongodb-uri` of the harness's commands: the database the processes share. */
export const mongodbUriOption = z
  .string()
  .regex(/^mongodb(\+srv)?:\/\//, '--mongodb-uri must start with mongodb:// or mongodb+srv://')
  .optional();

const READY_TIMEOUT_MS = 60_000;

async function startApiProcess(index: number, env: Record<string, string>, opts: ApiProcessOptions): Promise<ApiProcess> {
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'chainlog-scale-api-'));
  const child = spawn(process.execPath, [...SERVER_NODE_ARGS], {
    cwd: repoRoot,
    env: {
      ...process.env,
      ...env,
      PORT: String(port),
      HOST: '127.0.0.1',
      DATA_DIR: dataDir,
      LOG_LEVEL: 'warn',
      AUTH: 'off',
      ...(opts.processSecret !== undefined && { ADVERTISE_URL: `http://127.0.0.1:${port}`, PROCESS_SECRET: opts.processSecret }),
    },
    stdio: ['ignore', 'ignore', opts.labelStderr ? 'pipe' : 'inherit'],
  });
  killOnExit(child);
  child.stderr?.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n')) if (line) process.stderr.write(`[P${index}] ${line}\n`);
  });
  const api = { index, url: `http://127.0.0.1:${port}`, child, dataDir };
  try {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while ((await httpGetStatus(`${api.url}/healthz`)) !== 200) {
      if (child.exitCode !== null) throw new Error(`chainlog exited with ${child.exitCode} before it was ready`);
      if (Date.now() > deadline) throw new Error(`chainlog was not ready within ${READY_TIMEOUT_MS / 1000} s`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch (err) {
    await stopApiProcesses([api]);
    throw err;
  }
  return api;
}

/**
 * Starts `count` processes one at a time, so each finds the schema and key the first recorded, and
 * resolves once every one answers /healthz; if one fails, stops those already started and rejects.
 */
export async function startApiProcesses(
  count: number,
  env: Record<string, string>,
  opts: ApiProcessOptions = {},
): Promise<ApiProcess[]> {
  const apis: ApiProcess[] = [];
  try {
    for (let i = 0; i < count; i++) apis.push(await startApiProcess(i, env, opts));
  } catch (err) {
    await stopApiProcesses(apis);
    throw err;
  }
  return apis;
}

/** Stops the processes (SIGTERM, waiting for each to exit) and removes their data directories. */
export async function stopApiProcesses(apis: readonly ApiProcess[]): Promise<void> {
  await Promise.all(
    apis.map(async (api) => {
      if (api.child.exitCode === null && api.child.signalCode === null) {
        const exited = new Promise((r) => api.child.once('exit', r));
        api.child.kill('SIGTERM');
        await exited;
      }
      rmSync(api.dataDir, { recursive: true, force: true });
    }),
  );
}
