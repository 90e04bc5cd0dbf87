// The FerretDB-based MongoDB test server for a tool run (the benchmark, `npm run scale`): built if
// needed, started on a free port over a temporary data directory, and removed again by `stop`.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureServerBinary } from './binary.js';
import { startServerProcess, stopServerProcess } from './server-process.js';

export interface TestMongo {
  uri: string;
  pid: number;
  /** Stops the server and removes its data directory. */
  stop(): Promise<void>;
}

export interface TestMongoOptions {
  /** Forward the server's stderr (its warnings) to ours; otherwise only its end is kept, for a start error. */
  inheritStderr?: boolean;
}

export async function startTestMongo(
  log: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
  opts: TestMongoOptions = {},
): Promise<TestMongo> {
  const binary = await ensureServerBinary(log);
  const dataDir = await mkdtemp(join(tmpdir(), 'chainlog-mongo-'));
  let server;
  try {
    server = await startServerProcess({ binary, listen: '127.0.0.1:0', dataDir, inheritStderr: opts.inheritStderr });
  } catch (err) {
    await rm(dataDir, { recursive: true, force: true });
    throw err;
  }
  return {
    uri: server.uri,
    pid: server.child.pid!,
    async stop() {
      await stopServerProcess(server);
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
