// A chainlog child process that can be SIGKILLed and restarted on the same DATA_DIR and port,
// run the way a user runs it (`node --import tsx src/main.ts`).
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { mulberry32 } from '../../src/simulator/prng.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Small seeded PRNG (mulberry32), so a failing run can be replayed with its seed. */
export const prng = (seed: number): (() => number) => mulberry32(seed);

export class CrashableService {
  readonly url: string;
  private child: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();
  /** Output of every run, each prefixed with its start, for failure messages. */
  private log = '';
  starts = 0;

  constructor(
    readonly port: number,
    readonly dataDir: string,
    private readonly env: Record<string, string>,
  ) {
    this.url = `http://127.0.0.1:${port}`;
  }

  output(tailChars = 8000): string {
    return this.log.slice(-tailChars);
  }

  async start(timeoutMs = 60_000): Promise<void> {
    if (this.child) throw new Error('already running');
    const { MONGODB_URI: _u, MONGODB_DB: _d, PORT: _p, DATA_DIR: _dd, ...inherited } = process.env;
    this.starts++;
    this.log += `\n--- start #${this.starts} ---\n`;
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: ROOT,
      env: {
        ...inherited,
        NODE_ENV: 'test',
        LOG_LEVEL: 'warn',
        HOST: '127.0.0.1',
        PORT: String(this.port),
        DATA_DIR: this.dataDir,
        ...this.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    child.stdout!.on('data', (chunk) => (this.log += chunk));
    child.stderr!.on('data', (chunk) => (this.log += chunk));
    this.exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        this.child = null;
        throw new Error(`chainlog exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${this.output()}`);
      }
      const ok = await fetch(`${this.url}/healthz`).then((r) => r.status === 200, () => false);
      if (ok) return;
      if (Date.now() > deadline) {
        await this.kill();
        throw new Error(`chainlog was not ready within ${timeoutMs} ms:\n${this.output()}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** SIGKILL: no shutdown hook runs, whatever was in flight is cut off. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = null;
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await this.exited;
  }

  /** Graceful stop (SIGTERM, then SIGKILL after 10 s). */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = null;
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await this.exited;
      clearTimeout(timer);
    }
  }
}
