// `npm run mongo:test-server -- --port N [--data DIR]`: a FerretDB-based MongoDB for tests, in the foreground.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ensureServerBinary } from './mongo-test-server/binary.js';
import { startServerProcess, stopServerProcess } from './mongo-test-server/server-process.js';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '27017' },
    data: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});

if (values.help) {
  console.log('usage: npm run mongo:test-server -- [--port N] [--data DIR]\n  default port 27017, default data dir: a temp dir removed on exit');
  process.exit(0);
}

const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`invalid --port ${values.port}`);
  process.exit(2);
}

const tempData = values.data === undefined;
const dataDir = values.data ?? (await mkdtemp(join(tmpdir(), 'chainlog-mongo-')));

const binary = await ensureServerBinary((line) => console.error(line));
const server = await startServerProcess({ binary, listen: `127.0.0.1:${port}`, dataDir, inheritStderr: true });
console.log(`MongoDB test server (FerretDB, SQLite backend) at ${server.uri}  data: ${dataDir}`);
console.log(`  e.g. MONGODB_URI=${server.uri} npm start   |   MONGODB_TEST_URI=${server.uri} npx vitest run --config test/vitest.config.ts`);

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
