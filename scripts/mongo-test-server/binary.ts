// Builds the FerretDB-based test server once and reuses it: Go builds take about a minute on 2 cores.
import { spawn } from 'node:child_process';
import { mkdir, rename, rm, stat, writeFile, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const serverSourceDir = dirname(fileURLToPath(import.meta.url));
export const serverBinaryPath = join(serverSourceDir, 'bin', 'mongo-test-server');
const sources = ['go.mod', 'go.sum', 'main.go'].map((f) => join(serverSourceDir, f));
const lockDir = join(serverSourceDir, 'bin', '.build-lock');
const staleLockMs = 10 * 60_000;

async function mtimeMs(path: string): Promise<number | null> {
  try {
    return (await stat(path)).mtimeMs;
  } catch {
    return null;
  }
}

/** True when the binary is missing or older than any of its sources. */
export async function binaryIsStale(): Promise<boolean> {
  const built = await mtimeMs(serverBinaryPath);
  if (built === null) return true;
  for (const src of sources) {
    const m = await mtimeMs(src);
    if (m !== null && m > built) return true;
  }
  return false;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

// mkdir is atomic, so concurrent test files (or a script beside them) build only once.
async function withBuildLock<T>(work: () => Promise<T>): Promise<T> {
  await mkdir(dirname(lockDir), { recursive: true });
  for (;;) {
    try {
      await mkdir(lockDir);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = Number(await readFile(join(lockDir, 'pid'), 'utf8').catch(() => 'NaN'));
      const since = await mtimeMs(lockDir);
      const abandoned = (Number.isInteger(owner) && !processAlive(owner)) || (since !== null && Date.now() - since > staleLockMs);
      if (abandoned) await rm(lockDir, { recursive: true, force: true });
      else await new Promise((r) => setTimeout(r, 300));
    }
  }
  try {
    await writeFile(join(lockDir, 'pid'), String(process.pid));
    return await work();
  } finally {
    await rm(lockDir, { recursive: true, force: true });
  }
}

function run(cmd: string, args: string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('error', (err: NodeJS.ErrnoException) =>
      reject(
        err.code === 'ENOENT'
          ? new Error(`${cmd} not found: install Go to build the MongoDB test server, or set MONGODB_TEST_URI`)
          : err,
      ),
    );
    child.on('exit', (code, signal) =>
      code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(' ')} failed (${signal ?? code})`)),
    );
  });
}

/** Returns the path of an up-to-date test server binary, building it if needed. */
export async function ensureServerBinary(log: (line: string) => void = () => {}): Promise<string> {
  if (!(await binaryIsStale())) return serverBinaryPath;
  await withBuildLock(async () => {
    if (!(await binaryIsStale())) return; // another process built it while we waited
    log('building the MongoDB test server (FerretDB); this takes a minute the first time...');
    const tmp = `${serverBinaryPath}.tmp-${process.pid}`;
    try {
      await run('go', ['build', '-o', tmp, '.'], serverSourceDir);
      await rename(tmp, serverBinaryPath); // atomic: nobody runs a half-written binary
    } finally {
      await rm(tmp, { force: true });
    }
  });
  return serverBinaryPath;
}
