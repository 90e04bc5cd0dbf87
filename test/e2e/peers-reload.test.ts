// PEERS_FILE is read again on SIGHUP (a real process and signal, on the e2e suites' engine): the next
// rounds ask the peers of the new list, and a file that does not load leaves the list in force with an
// error logged. The peers are HTTP servers of the test that count the views they are asked for.
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { e2eEngineEnv } from '../support/e2e-engine.js';
import { E2E_ADMIN_KEY } from '../support/service.js';
import { freePort, ServiceProcess } from '../support/service-process.js';
import { until } from '../support/wait.js';
import { addCheckpoint, TestLog } from '../support/witness-log.js';

const log = new TestLog('example.com/peers-reload');

interface Peer {
  server: Server;
  url: string;
  asked: number;
}

let dir: string;
let peersFile: string;
let proc: ServiceProcess;
const peers: Peer[] = [];

async function peer(): Promise<Peer> {
  const p = { asked: 0 } as Peer;
  p.server = createServer((_req, res) => {
    p.asked++;
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => p.server.listen(0, '127.0.0.1', resolve));
  p.url = `http://127.0.0.1:${(p.server.address() as AddressInfo).port}/witness`;
  peers.push(p);
  return p;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'chainlog-peers-reload-'));
  peersFile = join(dir, 'peers');
  writeFileSync(join(dir, 'logs'), `log ${log.vkey}\n`);
  const first = await peer();
  writeFileSync(peersFile, `${first.url}\n`);
  proc = new ServiceProcess(await freePort(), join(dir, 'data'), {
    AUTH: 'on',
    ADMIN_API_KEY: E2E_ADMIN_KEY,
    LOG_LEVEL: 'info',
    WITNESSED_LOGS_FILE: join(dir, 'logs'),
    WITNESS_RATE_LIMIT_PER_SEC: '0',
    PEERS_FILE: peersFile,
    PEER_COMPARE_INTERVAL_MS: '100',
    PEER_TIMEOUT_MS: '1000',
    ...e2eEngineEnv('peers_reload'),
  });
  await proc.start();
  // A view to compare: the witness cosigned the log at size 4.
  expect((await addCheckpoint(proc.url, log.body(0, 4))).status).toBe(200);
}, 120_000);

afterAll(async () => {
  await proc?.kill();
  for (const p of peers) await new Promise((resolve) => p.server.close(resolve));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('PEERS_FILE on SIGHUP', () => {
  it('compares with the peers of the new file from the next round on', async () => {
    const [first] = peers;
    await until('the first peer to be asked', () => first!.asked > 0);
    const second = await peer();
    writeFileSync(peersFile, `# replaced\n${second.url}\n`);
    proc.signal('SIGHUP');
    await until('the reload to be logged', () => proc.output().includes('peers reloaded'));
    await until('the second peer to be asked', () => second.asked > 0);
    // A round that started before the reload may still reach the first peer; none after the one that follows.
    const secondBefore = second.asked;
    await until('two more rounds with the second peer', () => second.asked >= secondBefore + 2);
    const firstAfter = first!.asked;
    await until('two more rounds again', () => second.asked >= secondBefore + 4);
    expect(first!.asked).toBe(firstAfter);
  });

  it('keeps the current list when the file does not load, and says so', async () => {
    const second = peers[1]!;
    writeFileSync(peersFile, 'ftp://peer.example/witness\n');
    proc.signal('SIGHUP');
    await until('the refusal to be logged', () => proc.output().includes('peers not reloaded; the previous list stays in force'));
    expect(proc.output()).toContain(`PEERS_FILE ${peersFile}: line 1: must be an http(s) URL`);
    const asked = second.asked;
    await until('the second peer to be asked again', () => second.asked >= asked + 2);
  });
});
