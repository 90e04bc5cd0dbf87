// The peer of `npm run bench -- --peers`: Tessera's POSIX conformance log (its cmd/conformance/posix),
// built with Go from the Go module proxy into bench/.peer-cache (git-ignored) the first time, and run
// as a child process with its own defaults: batches of 256 entries or 1 s, a checkpoint every 1 s.
// None of Tessera's code is in this repository: only how to install and drive it.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { generateKeyPairSync } from 'node:crypto';
import { keyId, rawPublicKey } from '../../src/core/note/signed-note.js';
import { repoRoot } from '../engines.js';
import { httpGetStatus, sleep } from '../http.js';
import { listensOn } from '../port-owner.js';
import { freePort, killOnExit, cpuSecondsOf } from '../server.js';

export const TESSERA_MODULE = 'github.com/transparency-dev/tessera/cmd/conformance/posix';
export const TESSERA_VERSION = 'v1.0.4';
/** Its settings, fixed in its main.go: what bench/README.md documents. */
export const TESSERA_SETTINGS = 'batching 256 entries or 1 s, checkpoint interval 1 s, republish 1 min, in-memory antispam';

const run = promisify(execFile);

/** Where the binary is cached; BENCH_PEER_CACHE overrides (e.g. to share one build between worktrees). */
export function peerCacheDir(): string {
  return process.env.BENCH_PEER_CACHE ?? join(repoRoot, 'bench', '.peer-cache');
}

/**
 * The path of the built binary, building it first if needed; a string saying why not where Go is missing
 * or the build fails (the scenario is then skipped with that reason).
 */
export async function installTessera(log: (m: string) => void): Promise<{ binary: string } | { unavailable: string }> {
  const bin = join(peerCacheDir(), `tessera-${TESSERA_VERSION}`);
  const binary = join(bin, 'posix');
  if (existsSync(binary)) return { binary };
  try {
    await run('go', ['version']);
  } catch {
    return {
      unavailable: `Go is not installed (no \`go\` on PATH): the peer ${TESSERA_MODULE}@${TESSERA_VERSION} cannot be built`,
    };
  }
  mkdirSync(bin, { recursive: true });
  log(`peers: building ${TESSERA_MODULE}@${TESSERA_VERSION} into ${bin} (once)`);
  try {
    await run('go', ['install', `${TESSERA_MODULE}@${TESSERA_VERSION}`], {
      env: { ...process.env, GOBIN: bin, CGO_ENABLED: process.env.CGO_ENABLED ?? '0' },
      timeout: 15 * 60_000,
      maxBuffer: 16 * 1024 * 1024,
    });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    return { unavailable: `building ${TESSERA_MODULE}@${TESSERA_VERSION} failed: ${(e.stderr ?? e.message).slice(-1000)}` };
  }
  return existsSync(binary) ? { binary } : { unavailable: `go install left no binary at ${binary}` };
}

/**
 * A note signer key as Go's note.NewSigner reads it: PRIVATE+KEY+<name>+<key id hex>+<base64(0x01 || seed)>,
 * the key id computed by chainlog's core (src/core/note).
 */
export function noteSignerKey(name: string): string {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const seed = Buffer.from(privateKey.export({ format: 'jwk' }).d!, 'base64url');
  const id = Buffer.from(keyId(name, rawPublicKey(publicKey))).toString('hex');
  return `PRIVATE+KEY+${name}+${id}+${Buffer.concat([Buffer.from([0x01]), seed]).toString('base64')}`;
}

export interface PeerHandle {
  url: string;
  pid: number;
  cpuSeconds(): number | null;
  stop(): Promise<void>;
}

/** Starts the peer on a fresh storage directory under `dataDir`; stop() kills it and removes the directory. */
export async function startTessera(binary: string, dataDir: string): Promise<PeerHandle> {
  mkdirSync(dataDir, { recursive: true });
  const storage = join(dataDir, 'storage');
  const keyFile = join(dataDir, 'log.key');
  writeFileSync(keyFile, noteSignerKey('bench.example/tessera'), { mode: 0o600 });
  const port = await freePort();
  const child: ChildProcess = spawn(
    binary,
    [`--storage_dir=${storage}`, `--listen=127.0.0.1:${port}`, `--private_key=${keyFile}`, '--logtostderr'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  killOnExit(child);
  let tail = '';
  const keep = (c: Buffer) => {
    tail = (tail + c.toString('utf8')).slice(-4000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  let exited = false;
  const exit = new Promise<void>((resolve) =>
    child.once('exit', () => {
      exited = true;
      resolve();
    }),
  );
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  // Ready once it serves its first (empty) checkpoint, from a socket it holds (the port may have been taken).
  while ((await httpGetStatus(`${url}/checkpoint`, 1000)) !== 200 || !(await listensOn(child.pid!, port))) {
    if (exited || Date.now() > deadline) {
      child.kill('SIGKILL');
      await exit;
      throw new Error(`Tessera POSIX log not ready within 30 s (exited: ${exited}):\n${tail}`);
    }
    await sleep(100);
  }
  return {
    url,
    pid: child.pid!,
    cpuSeconds: () => cpuSecondsOf(child.pid!),
    async stop() {
      if (!exited) {
        child.kill('SIGTERM');
        const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exit;
        clearTimeout(killer);
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
