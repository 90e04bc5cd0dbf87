// Starts scenario 12's floor (node-floor-server.mjs): what one Node process answers of the same load
// when it does nothing but HTTP and JSON, so a report shows how much of chainlog's cost per request is
// its own work and how much any Node server pays on this machine.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from '../engines.js';
import { cpuSecondsOf, freePort, killOnExit } from '../server.js';
import type { PeerHandle } from './tessera.js';

export const NODE_FLOOR_SETTINGS =
  'node:http, one process; reads and parses each body, answers 201 with its index, stores nothing';

/** Starts the floor server and resolves once it listens (it says so on stdout). */
export async function startNodeFloor(): Promise<PeerHandle> {
  const port = await freePort();
  const child: ChildProcess = spawn(process.execPath, [join(repoRoot, 'bench', 'peers', 'node-floor-server.mjs')], {
    env: { PATH: process.env.PATH ?? '', PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  killOnExit(child);
  let tail = '';
  const exit = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    child.stderr!.on('data', (c: Buffer) => (tail = (tail + c.toString('utf8')).slice(-4000)));
    child.stdout!.on('data', (c: Buffer) => {
      if (c.toString('utf8').includes('listening')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`the Node floor server exited (${code}) before listening:\n${tail}`)));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    pid: child.pid!,
    cpuSeconds: () => cpuSecondsOf(child.pid!),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exit;
      clearTimeout(killer);
    },
  };
}
