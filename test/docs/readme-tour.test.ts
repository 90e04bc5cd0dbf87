// The README's tour, run as written: the service is started as the README starts it (`npm start`), and
// every block marked `<!-- tour ... -->` runs in order in one bash session against it, so the README
// cannot drift from what the service does. Markers:
//   <!-- tour -->                        a sh block, run in the session
//   <!-- tour: file NAME -->             the block is saved as NAME in the session's directory
//   <!-- tour: background[, wait for "TEXT"] -->   a sh block started in the background (a "second
//                                        terminal"); with `wait for`, the session waits until its output shows TEXT
//   <!-- tour: wait for "TEXT" -->       run the block, then wait until the background output shows TEXT
// The only rewrites: the README's address (127.0.0.1:4000) becomes the test server's, and
// data/admin-api-key the key file in the test server's DATA_DIR.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listensOn } from '../../bench/port-owner.js';
import { freePort, REPO_ROOT } from '../support/service-process.js';

interface Block {
  marker: string;
  lang: string;
  code: string;
}

export function tourBlocks(readme: string): Block[] {
  const re = /<!--\s*tour(?::\s*([^>]*?))?\s*-->\s*\n```(\w+)\n([\s\S]*?)\n```/g;
  return [...readme.matchAll(re)].map((m) => ({ marker: (m[1] ?? '').trim(), lang: m[2]!, code: m[3]! }));
}

const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
const blocks = tourBlocks(readme);

let server: ChildProcess | undefined;
let serverLog = '';
let port = 0;
let dataDir = '';
const sessionDir = join(REPO_ROOT, `.chainlog-tour-${process.pid}`);
const verifyState = join(REPO_ROOT, '.chainlog-verify-state.json');
const savedState = `${verifyState}.before-tour-${process.pid}`;

beforeAll(async () => {
  // `npm run verify` keeps its state in the repository root: keep a developer's own file out of the tour.
  if (existsSync(verifyState)) renameSync(verifyState, savedState);
  mkdirSync(sessionDir, { recursive: true });
  port = await freePort();
  dataDir = join(mkdtempSync(join(tmpdir(), 'chainlog-tour-')), 'data');
  const { ADMIN_API_KEY: _a, CHAINLOG_API_KEY: _c, MONGODB_URI: _m, AUTH: _auth, ...env } = process.env;
  server = spawn('npm', ['start'], {
    cwd: REPO_ROOT,
    env: { ...env, PORT: String(port), DATA_DIR: dataDir, CHECKPOINT_INTERVAL_MS: '1000', LOG_FORMAT: 'json' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  server.stdout!.on('data', (d) => (serverLog += d));
  server.stderr!.on('data', (d) => (serverLog += d));
  const deadline = Date.now() + 60_000;
  // Ready when the answer comes from `npm start`'s own processes: another suite may hold the port freePort gave.
  while (
    !(await fetch(`http://127.0.0.1:${port}/healthz`).then(
      (r) => r.ok,
      () => false,
    )) ||
    !(await listensOn(server.pid!, port, { group: true }))
  ) {
    if (server.exitCode !== null || Date.now() > deadline) throw new Error(`service did not start:\n${serverLog}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}, 90_000);

afterAll(async () => {
  if (server?.pid) {
    const exited = new Promise((r) => server!.once('exit', r));
    process.kill(-server.pid, 'SIGTERM');
    await exited;
  }
  rmSync(sessionDir, { recursive: true, force: true });
  rmSync(verifyState, { force: true });
  if (existsSync(savedState)) renameSync(savedState, verifyState);
});

/** The tour as one bash script, with the README's address and key file pointed at the test server. */
function script(): string {
  const rewrite = (code: string) =>
    code
      .replaceAll('http://127.0.0.1:4000', `http://127.0.0.1:${port}`)
      .replaceAll('ws://127.0.0.1:4000', `ws://127.0.0.1:${port}`)
      .replaceAll('data/admin-api-key', join(dataDir, 'admin-api-key'));
  const parts = [
    'set -euo pipefail',
    'BG_OUT="$PWD/background.out"; : > "$BG_OUT"',
    // Polls the background output with a deadline: there is nothing else to wait on from a shell.
    `tour_wait() { local deadline=$((SECONDS + 30)); until grep -qF -- "$1" "$BG_OUT"; do if (( SECONDS > deadline )); then echo "tour: no \\"$1\\" in the background output:" >&2; cat "$BG_OUT" >&2; exit 1; fi; sleep 0.1; done; }`,
  ];
  for (const b of blocks) {
    const wait = /wait for "([^"]+)"/.exec(b.marker)?.[1];
    const file = /^file\s+(\S+)/.exec(b.marker)?.[1];
    if (file) {
      parts.push(`cat > ${file} <<'TOUR_FILE_EOF'\n${rewrite(b.code)}\nTOUR_FILE_EOF`);
      continue;
    }
    expect(b.lang).toBe('sh');
    if (/^background/.test(b.marker)) parts.push(`( ${rewrite(b.code)} ) >> "$BG_OUT" 2>&1 &`);
    else parts.push(`echo '--- tour block ---'`, rewrite(b.code));
    if (wait) parts.push(`tour_wait ${JSON.stringify(wait)}`);
  }
  return parts.join('\n');
}

describe('README tour', () => {
  it('has the steps a newcomer needs, each marked for this test', () => {
    const all = blocks.map((b) => b.code).join('\n');
    expect(all).toContain('createApiKey(role: WRITER');
    expect(all).toContain('logEvent(input');
    expect(all).toContain('/v1/events');
    expect(all).toMatch(/events\(filter:/);
    expect(all).toContain('"after"');
    expect(all).toContain('eventLogged');
    expect(all).toContain('inclusionProof');
    expect(all).toContain('npm run verify');
    expect(all).toContain('http://127.0.0.1:4000');
    expect(all).toContain('data/admin-api-key');
    // The tour comes right after the start command.
    expect(readme.indexOf('## A ten-minute tour')).toBeGreaterThan(readme.indexOf('npm ci && npm start'));
    expect(readme.indexOf('## A ten-minute tour')).toBeLessThan(readme.indexOf('## Configuration'));
  });

  it('runs as written against the service started as the README starts it', { timeout: 180_000 }, async () => {
    const { ADMIN_API_KEY: _a, CHAINLOG_API_KEY: _c, ...env } = process.env;
    const bash = spawn('bash', ['-c', script()], { cwd: sessionDir, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let out = '';
    bash.stdout.on('data', (d) => (out += d));
    bash.stderr.on('data', (d) => (out += d));
    const code = await new Promise<number | null>((r) => bash.once('exit', r));
    // The background follower is still running in the session's process group.
    try {
      process.kill(-bash.pid!, 'SIGTERM');
    } catch {
      // already gone
    }
    const background = readFileSync(join(sessionDir, 'background.out'), 'utf8');
    const context = `${out}\n--- background ---\n${background}\n--- server ---\n${serverLog.slice(-4000)}`;
    expect(code, context).toBe(0);

    const steps = out.split('--- tour block ---\n').slice(1);
    const [keys, logged, rest, query, simulate, proof, verify] = steps;
    expect(steps, context).toHaveLength(7);
    expect(keys).toMatch(/writer: clk_\S+ {2}auditor: clk_\S+/);
    expect(logged).toMatch(/"logEvent":\{"id":"checkout\/0","seq":0,"hash":"[0-9a-f]{64}"\}/);
    expect(rest).toMatch(/HTTP\/1\.1 201[\s\S]*"id":"checkout\/1"[\s\S]*"replayed":false/);
    expect(rest).toMatch(/HTTP\/1\.1 200[\s\S]*Idempotent-Replayed: true[\s\S]*"id":"checkout\/1"[\s\S]*"replayed":true/i);
    expect(query).toMatch(/"id":"checkout\/0"[\s\S]*"hasNextPage":true/);
    expect(query).toMatch(/"id":"checkout\/1","eventType":"order.paid"/);
    expect(background).toMatch(/^checkout\/1 order.paid$/m);
    expect(background).toMatch(/^checkout\/2 /m);
    expect(background).not.toMatch(/^checkout\/0 /m); // after: checkout/0 replays only what came after it
    expect(simulate).toMatch(/accepted\s+100\b/);
    expect(proof).toMatch(/"inclusionProof":\{"leafIndex":0,"treeSize":\d+/);
    expect(verify).toMatch(/^verify OK /m);
  });
});
