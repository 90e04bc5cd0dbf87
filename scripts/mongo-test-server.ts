// `npm run mongo:test-server -- --port N [--data DIR]`: a FerretDB-based MongoDB for tests, in the foreground.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { intOption, optionsOrExit, parseCliArgs } from '../src/cli/options.js';
import { ensureServerBinary } from './mongo-test-server/binary.js';
import { startServerProcess, stopServerProcess } from './mongo-test-server/server-process.js';

const HELP = `Usage: npm run mongo:test-server -- [--port N] [--data DIR]
  --port N      port to listen on, 0 for a free one (default 27017)
  --data DIR    data directory (default: a temporary directory removed on exit)
  -h, --help    show this help
`;
const schema = z
  .object({ port: intOption('port', 0, 65535).default(27017), data: z.string().min(1, '--data must not be empty').optional() })
  .strict();
const values = optionsOrExit(
  'mongo:test-server',
  HELP,
  parseCliArgs({ schema }, process.argv.slice(2), process.env, (v) => v),
);
const port = values.port;

const tempData = values.data === undefined;
const dataDir = values.data ?? (await mkdtemp(join(tmpdir(), 'chainlog-mongo-')));

const binary = await ensureServerBinary((line) => console.error(line));
const server = await startServerProcess({ binary, listen: `127.0.0.1:${port}`, dataDir, inheritStderr: true });
console.log(`MongoDB test server (FerretDB, SQLite backend) at ${server.uri}  data: ${dataDir}`);
console.log(
  `  e.g. MONGODB_URI=${server.uri} npm start   |   MONGODB_TEST_URI=${server.uri} npx vitest run --config test/vitest.config.ts`,
);

let stopping = false;
async function shutdown() {
  if (stopping) return;
  stopping = true;
  await stopServerProcess(server);
  if (tempData) await rm(dataDir, { recursive: true, force: true });
  process.exit(0);
}
process.on('SIGINT', () => void shutdown());
process.on('SIGTERM', () => void shutdown());
await server.exited;
if (!stopping) {
  console.error('MongoDB test server exited');
  if (tempData) await rm(dataDir, { recursive: true, force: true });
  process.exit(1);
}
